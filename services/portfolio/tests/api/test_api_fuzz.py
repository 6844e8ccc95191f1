"""The portfolio's API under the shared schemathesis harness (`tests/support/api_fuzz.py`): a
school's pupil with a verified consent, every operation, positive and negative requests, called
by the school's navigator."""

import asyncio
import tempfile
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from bilet.contracts import CATALOGUE, EventMetadata, encode, seal, sealed_scopes
from bilet.contracts.catalogue import identity
from bilet.crypto import FieldCipher
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.stores import open_key_store, open_source_stores
from bilet_portfolio.app import create_app
from bilet_portfolio.settings import SOURCES, PortfolioSettings
from tests.support.api_fuzz import ApiFuzz

VAR_DIR = Path(tempfile.mkdtemp(prefix="bilet-portfolio-schemathesis-"))
SCHOOL = uuid.UUID("0c3b9a52-7f3e-4d8a-8a10-000000000003")
REGION = uuid.UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000047")
PUPIL = uuid.UUID("3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0001")
CONSENT = uuid.UUID("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c01")
SETTINGS = PortfolioSettings(
    var_dir=VAR_DIR,
    portfolio_embedded_feed=True,
    portfolio_wait_timeout=0.05,  # generated position tokens are never reached: answer soon
    portfolio_sse_max_seconds=0.05,  # streams end, so every answer completes
)


async def _seed() -> None:
    """A school and a pupil with a verified consent, for generated requests to meet."""
    stores = await open_source_stores(SETTINGS, SOURCES)
    keys = await open_key_store(SETTINGS)
    try:
        sealed = await seal(
            FieldCipher(keys),
            str(PUPIL),
            {
                "full_name": {"last_name": "Иванов", "first_name": "Иван", "patronymic": None},
                "birth_date": "2007-01-01",
                "snils": "112-233-445 95",
                "health_limitations": {"has_limitations": False, "kind": None},
                "accessibility_needs": [],
            },
            sealed_scopes(identity.ParticipantRegistered),
        )
        events: list[Any] = [
            identity.SchoolRegistered(
                school_id=SCHOOL, region_id=REGION, name="МОУ «СОШ № 3»", municipality="Луга"
            ),
            identity.ParticipantRegistered(
                participant_id=PUPIL,
                school_id=SCHOOL,
                region_id=REGION,
                season=2019,
                grade=7,
                **sealed,
            ),
            CATALOGUE.latest("ConsentVerified").model_validate(
                {
                    "participant_id": str(PUPIL),
                    "consent_id": str(CONSENT),
                    "purposes": ["portfolio"],
                    "valid_until": date(2100, 1, 1).isoformat(),
                },
                strict=False,
            ),
        ]
        for event in events:
            new = encode(event, EventMetadata(actor="schemathesis"))
            await stores[event.service].append(event.stream_id, [new])
    finally:
        await keys.close()
        for store in stores.values():
            await store.close()


asyncio.run(_seed())
NAVIGATOR = ensure_development_keys(VAR_DIR).mint(Role.NAVIGATOR, school=str(SCHOOL))
FUZZ = ApiFuzz(
    app=create_app(SETTINGS),
    openapi_path="/portfolio/openapi.json",
    var_dir=VAR_DIR,
    caller=lambda _method, _path: NAVIGATOR,
    known={"participant_id": str(PUPIL), "school_id": str(SCHOOL)},
)
_stop_the_service = FUZZ.lifespan_fixture()
test_the_api_answers_as_documented = FUZZ.test()
