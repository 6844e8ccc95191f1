"""Consent's API under the shared schemathesis harness (`tests/support/api_fuzz.py`): a pupil
of СОШ № 3 (Leningrad oblast) registered in identity's store, the clock in the 2019 season;
every operation, positive and negative requests, each called by a role that may call it (the
school's registrar submits and lists its pupils, the child's guardian withdraws, the operator
does the rest)."""

import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import schemathesis

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet_consent.app import create_app
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import PDF, REGION, SCHOOL_3, Clock, consent_form, register_pupils
from tests.support.api_fuzz import ApiFuzz, json_body

VAR_DIR = Path(tempfile.mkdtemp(prefix="bilet-consent-fuzz-"))
PUPIL = UUID("3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0c05")
SETTINGS = ConsentSettings(var_dir=VAR_DIR)
asyncio.run(register_pupils(SETTINGS, [(PUPIL, SCHOOL_3, REGION)]))
SIGNER = ensure_development_keys(VAR_DIR)
TOKENS = {
    Role.REGISTRAR: SIGNER.mint(Role.REGISTRAR, school=str(SCHOOL_3)),
    Role.GUARDIAN: SIGNER.mint(Role.GUARDIAN, children=[str(PUPIL)]),
    Role.OPERATOR: SIGNER.mint(Role.OPERATOR),
}


def caller(method: str, path: str) -> str:
    if path == "/consent/v1/consents" and method == "POST":
        return TOKENS[Role.REGISTRAR]
    if path == "/consent/v1/participants":
        return TOKENS[Role.REGISTRAR]
    if path.endswith("/withdraw"):
        return TOKENS[Role.GUARDIAN]
    return TOKENS[Role.OPERATOR]


def meet_rules(case: schemathesis.Case[Any]) -> None:
    """A submission is a signed paper form: its document a real PDF, its dates and guardian's
    details as a registrar copies them from the paper (checked across fields and against the
    season, which no JSON Schema states)."""
    if case.path == "/consent/v1/consents" and case.method.upper() == "POST":
        json_body(case).update(document=PDF, consent=json.dumps(consent_form(PUPIL)))


FUZZ = ApiFuzz(
    app=create_app(SETTINGS, clock=Clock(datetime(2019, 9, 20, 10, 0, tzinfo=UTC))),
    openapi_path="/consent/openapi.json",
    var_dir=VAR_DIR,
    caller=caller,
    known={"participant_id": str(PUPIL), "school": str(SCHOOL_3), "region": str(REGION)},
    meet_rules=meet_rules,
)
_stop_the_service = FUZZ.lifespan_fixture()
test_the_api_answers_as_documented = FUZZ.test()
