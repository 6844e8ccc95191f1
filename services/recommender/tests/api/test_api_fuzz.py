"""Property-based tests over the recommender's OpenAPI document (schemathesis, in process), on
the real runtime (the issuing and insights feeds over identity's, consent's, diagnostics' and
events' stores): whatever a client sends, the service answers as documented and never with a
server error. The caller is the region's coordinator, who may call every route."""

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet_recommender.app import create_app
from bilet_recommender.settings import RecommenderSettings
from services.recommender.tests.api.conftest import NOW, PUPILS, REGION, seed

EXAMPLES = 25
VAR_DIR = Path(tempfile.mkdtemp(prefix="bilet-recommender-schemathesis-"))
SETTINGS = RecommenderSettings(var_dir=VAR_DIR)

asyncio.run(seed(SETTINGS, {name: uuid.uuid4() for name in PUPILS}))
APP = create_app(SETTINGS, clock=lambda: NOW)
COORDINATOR_TOKEN = {
    "Authorization": "Bearer "
    + ensure_development_keys(VAR_DIR).mint(Role.COORDINATOR, region=str(REGION))
}
schema = schemathesis.openapi.from_asgi("/recommender/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _stop_the_service() -> Iterator[None]:
    yield
    shutdown_lifespans()
    shutil.rmtree(VAR_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_answers_as_documented(case: schemathesis.Case[Any]) -> None:
    # Every check but "schema-valid data is accepted": a region not the coordinator's, an
    # opportunity of nobody, is schema-valid and rightly refused (403, 404).
    case.call_and_validate(headers=COORDINATOR_TOKEN, excluded_checks=[positive_data_acceptance])
