"""Diagnostics' API under the shared schemathesis harness (`tests/support/api_fuzz.py`), on the
real runtime (the facts read model fed from identity's and consent's stores): every operation,
positive and negative requests, called by the pupil (whose routes they all are but the
navigator's school progress)."""

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bilet.contracts import EventMetadata, encode
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.stores import open_source_stores
from bilet_diagnostics import facts_testing as given
from bilet_diagnostics.app import create_app
from bilet_diagnostics.application.attempts import season_of
from bilet_diagnostics.settings import DiagnosticsSettings
from tests.support.api_fuzz import ApiFuzz

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
SIGNER = ensure_development_keys(VAR_DIR)
PUPIL_TOKEN = SIGNER.mint(Role.PUPIL, participant=str(PUPIL))
NAVIGATOR_TOKEN = SIGNER.mint(Role.NAVIGATOR, school=str(given.SCHOOL_3))


def caller(_: str, path: str) -> str:
    return NAVIGATOR_TOKEN if path.endswith("/progress") else PUPIL_TOKEN


FUZZ = ApiFuzz(
    app=create_app(SETTINGS),
    openapi_path="/diagnostics/openapi.json",
    var_dir=VAR_DIR,
    caller=caller,
    known={"participant_id": str(PUPIL), "school_id": str(given.SCHOOL_3)},
)
_stop_the_service = FUZZ.lifespan_fixture()
test_the_api_answers_as_documented = FUZZ.test()
