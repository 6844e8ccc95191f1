"""The recommender's API under the shared schemathesis harness (`tests/support/api_fuzz.py`), on
the real runtime (the issuing and insights feeds over identity's, consent's, diagnostics' and
events' stores): whatever a client sends, the service answers as documented and never with a
server error. The caller is the region's coordinator, who may call every route."""

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import schemathesis

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet_recommender.app import create_app
from bilet_recommender.settings import RecommenderSettings
from services.recommender.tests.api.conftest import NOW, PUPILS, REGION, seed
from tests.support.api_fuzz import ApiFuzz, grades_in_order, json_body

VAR_DIR = Path(tempfile.mkdtemp(prefix="bilet-recommender-schemathesis-"))
SETTINGS = RecommenderSettings(var_dir=VAR_DIR)

IDS = {name: uuid.uuid4() for name in PUPILS}
asyncio.run(seed(SETTINGS, IDS))
COORDINATOR = ensure_development_keys(VAR_DIR).mint(Role.COORDINATOR, region=str(REGION))


def meet_rules(case: schemathesis.Case[Any]) -> None:
    """Rules across fields: an opportunity ends on or after the day it starts; its grades run
    from the lowest to the highest."""
    body = json_body(case)
    grades_in_order(body)
    if "starts_on" in body and "ends_on" in body and body["ends_on"] < body["starts_on"]:
        body["starts_on"], body["ends_on"] = body["ends_on"], body["starts_on"]


FUZZ = ApiFuzz(
    app=create_app(SETTINGS, clock=lambda: NOW),
    openapi_path="/recommender/openapi.json",
    var_dir=VAR_DIR,
    caller=lambda _method, _path: COORDINATOR,
    known={"participant_id": str(IDS["dasha"]), "region_id": str(REGION)},
    meet_rules=meet_rules,
)
_stop_the_service = FUZZ.lifespan_fixture()
test_the_api_answers_as_documented = FUZZ.test()
