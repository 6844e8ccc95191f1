"""Identity's API under the shared schemathesis harness (`tests/support/api_fuzz.py`), on the
demo data (a region, two schools and their pupils): every operation, positive and negative
requests, each called by a role that may call it."""

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import schemathesis

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet_identity import demo
from bilet_identity.app import create_app
from bilet_identity.settings import IdentitySettings
from tests.support.api_fuzz import ApiFuzz, grades_in_order, json_body

TODAY = datetime.now(UTC).date()
VAR_DIR = Path(tempfile.mkdtemp(prefix="bilet-identity-fuzz-"))
SCHOOL = demo.SCHOOLS[0]
SIGNER = ensure_development_keys(VAR_DIR)
TOKENS = {
    Role.REGISTRAR: SIGNER.mint(Role.REGISTRAR, school=str(SCHOOL.school_id)),
    Role.COORDINATOR: SIGNER.mint(Role.COORDINATOR, region=str(demo.REGION_ID)),
    Role.OPERATOR: SIGNER.mint(Role.OPERATOR),
}


def caller(method: str, path: str) -> str:
    if path.startswith(("/identity/v1/seasons", "/identity/v1/duplicate-reviews")):
        return TOKENS[Role.OPERATOR]
    if path == "/identity/v1/regions" and method == "POST":
        return TOKENS[Role.OPERATOR]
    if path.startswith("/identity/v1/regions/"):
        return TOKENS[Role.COORDINATOR]
    return TOKENS[Role.REGISTRAR]


# A season far ahead, whose rules may still be written (the demo season has started).
FUTURE_SEASON = 2030
# A pupil the demo season admits: a birth date plausible for the grade, a СНИЛС whose check
# digits hold (the schema states its form; the arithmetic is the domain's).
PUPIL_RULES = {
    "season": demo.SEASON,
    "birth_date": "2005-03-14",
    "grade": 8,
    "snils": "112-233-445 95",
    "citizenship": "RU",  # the programme admits citizens only (422 `not_eligible`)
}
# A correction is checked against this school year: a grade 8 pupil born 14 years before it.
SCHOOL_YEAR = TODAY.year if TODAY.month >= 9 else TODAY.year - 1
CORRECTED_PUPIL = {"grade": 8, "birth_date": f"{SCHOOL_YEAR - 14}-03-01"}
CLASS_LIST = (
    "last_name;first_name;middle_name;birth_date;snils;grade\n"
    "Смирнова;Ольга;Петровна;2005-03-14;112-233-445 95;8\n"
)


def meet_rules(case: schemathesis.Case[Any]) -> None:
    """What a positive case must also meet, and no JSON Schema states: season rules' dates
    inside their school year, a pupil's birth date for the grade and the СНИЛС's check digits,
    a class list's header row, a move to another school that exists, a grants list naming
    an account or a scope."""
    body = json_body(case)
    if case.path.endswith("/rules") and case.method.upper() == "PUT":
        case.path_parameters["season"] = FUTURE_SEASON
        body.update(starts_on=f"{FUTURE_SEASON}-09-01", ends_on=f"{FUTURE_SEASON + 1}-05-31")
        grades_in_order(body)
    elif case.path == "/identity/v1/participants":
        body.update(PUPIL_RULES)
    elif case.path.startswith("/identity/v1/participants/") and case.method.upper() == "PATCH":
        if "grade" in body or "birth_date" in body:
            body.update(CORRECTED_PUPIL)
        if "snils" in body:  # its check digits hold
            body["snils"] = PUPIL_RULES["snils"]
    elif case.path.endswith("/import"):
        case.body = CLASS_LIST
    elif case.path.endswith("/moves"):
        # Another pupil than the one the demo data enrols at every start, to another school.
        case.path_parameters["participant_id"] = str(demo.participant_id(SCHOOL, 2))
        body.update(to_school_id=str(demo.SCHOOLS[1].school_id))
    elif case.path == "/identity/v1/grants" and case.method.upper() == "GET":
        # A list names an account or a scope (400 `invalid_query`): no query schema says "one of".
        query = case.query if case.query is not None else {}
        if not any(
            query.get(name)
            for name in ("account", "region_id", "school_id", "venue_id", "career_event_id")
        ):
            query["account"] = "demo-navigator"
        case.query = query
    elif case.path.endswith("/diagnostics-windows"):
        body.update(opens_on=f"{demo.SEASON}-10-01", closes_on=f"{demo.SEASON}-10-20")


FUZZ = ApiFuzz(
    app=create_app(IdentitySettings(var_dir=VAR_DIR, identity_demo_data=True)),
    openapi_path="/identity/openapi.json",
    var_dir=VAR_DIR,
    caller=caller,
    known={
        "region_id": str(demo.REGION_ID),
        "school_id": str(SCHOOL.school_id),
        "participant_id": str(demo.FIRST_PUPIL),
        "residence_region_id": str(demo.REGION_ID),
        "season": demo.SEASON,
    },
    meet_rules=meet_rules,
)
_stop_the_service = FUZZ.lifespan_fixture()
test_the_api_answers_as_documented = FUZZ.test()
