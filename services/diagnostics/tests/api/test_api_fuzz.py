"""Property-based tests over the diagnostics OpenAPI document (schemathesis, in process), on the
real runtime (the facts read model fed from identity's and consent's stores): whatever a client
sends, the service answers as documented and never with a server error."""

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bilet.contracts import EventMetadata, encode
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.stores import open_source_stores
from bilet_diagnostics import facts_testing as given
from bilet_diagnostics.app import create_app
from bilet_diagnostics.application.attempts import season_of
from bilet_diagnostics.settings import DiagnosticsSettings

EXAMPLES = 25
VAR_DIR = Path(tempfile.mkdtemp(prefix="bilet-diagnostics-schemathesis-"))
PUPIL = uuid.UUID("3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0002")
TODAY = datetime.now(UTC).date()
SEASON = season_of(TODAY.year, TODAY.month)
SETTINGS = DiagnosticsSettings(var_dir=VAR_DIR)


async def _seed() -> None:
    """Today's season, its window in the pupil's region, the pupil with a verified consent."""
    stores = await open_source_stores(SETTINGS, ("identity", "consent"))
    try:
        events: list[Any] = [
            given.rules(SEASON),
            given.region(given.REGION, "Europe/Moscow", SEASON),
            given.school(given.SCHOOL_3),
            given.window(TODAY - timedelta(days=1), TODAY + timedelta(days=1), season=SEASON),
            given.registered(PUPIL, season=SEASON),
            given.verified(PUPIL, TODAY + timedelta(days=300)),
        ]
        for event in events:
            new = encode(event, EventMetadata(actor="schemathesis"))
            await stores[event.service].append(event.stream_id, [new])
    finally:
        for store in stores.values():
            await store.close()


asyncio.run(_seed())
APP = create_app(SETTINGS)
PUPIL_TOKEN = {
    "Authorization": "Bearer "
    + ensure_development_keys(VAR_DIR).mint(Role.PUPIL, participant=str(PUPIL))
}
schema = schemathesis.openapi.from_asgi("/diagnostics/openapi.json", APP)


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
    # Every check but "schema-valid data is accepted": an id of nobody, or a stage out of order,
    # is schema-valid and rightly refused (404, 409).
    case.call_and_validate(headers=PUPIL_TOKEN, excluded_checks=[positive_data_acceptance])
