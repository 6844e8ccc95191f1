"""Property-based tests over the career events OpenAPI document (schemathesis, in process), on
the real runtime (the read model fed from identity's and consent's stores and its own): whatever
a client sends, the service answers as documented and never with a server error. Each operation
is called with the token of a role that may call it (the organiser of the college for publishing
and the roster, a mentor for feedback, a pupil for the rest), so the calls reach the use cases."""

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
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
from bilet_events import facts_testing as given
from bilet_events.app import create_app
from bilet_events.settings import EventsSettings

EXAMPLES = 25
VAR_DIR = Path(tempfile.mkdtemp(prefix="bilet-events-schemathesis-"))
PUPIL = uuid.UUID("3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0014")
COLLEGE = uuid.UUID("0a9a0000-0000-4000-8000-00000000c011")
MENTOR = uuid.UUID("3e470000-0000-4000-8000-000000000001")
TODAY = datetime.now(UTC).date()
SETTINGS = EventsSettings(var_dir=VAR_DIR)
SESSION = given.session(datetime.now(UTC) + timedelta(days=7))
CAREER_EVENT = given.career_event(SESSION).model_copy(
    update={"organiser_id": COLLEGE, "season": TODAY.year, "mentors": (MENTOR,)}
)
# The ids a generated case names are replaced by these, so that its calls reach the rules of a
# career event that exists and of a pupil the caller may book for.
KNOWN_IDS = {
    "career_event_id": str(CAREER_EVENT.career_event_id),
    "session_id": str(SESSION.session_id),
    "participant_id": str(PUPIL),
}


async def _seed() -> None:
    """The season's rules, the pupil's school, the pupil with a verified consent, and a career
    event of the college with a session a week ahead."""
    stores = await open_source_stores(SETTINGS, ("identity", "consent", "events"))
    try:
        events: list[Any] = [
            given.rules(TODAY.year),
            given.school(),
            given.registered(PUPIL, season=TODAY.year),
            given.verified(PUPIL, date(TODAY.year + 1, 8, 31)),
            CAREER_EVENT,
        ]
        for event in events:
            new = encode(event, EventMetadata(actor="schemathesis"))
            await stores[event.service].append(event.stream_id, [new])
    finally:
        for store in stores.values():
            await store.close()


asyncio.run(_seed())
APP = create_app(SETTINGS)
SIGNER = ensure_development_keys(VAR_DIR)
TOKENS = {
    Role.PUPIL: SIGNER.mint(Role.PUPIL, participant=str(PUPIL)),
    Role.ORGANISER: SIGNER.mint(Role.ORGANISER, venue=str(COLLEGE)),
    Role.MENTOR: SIGNER.mint(Role.MENTOR, subject=str(MENTOR)),
}
schema = schemathesis.openapi.from_asgi("/events/openapi.json", APP)


def _role_for(method: str, path: str) -> Role:
    if path.endswith("/feedback") or path.endswith("/attendance"):
        return Role.MENTOR
    if path.endswith("/bookings") or "/bookings/" in path or method == "GET":
        return Role.ORGANISER if path.endswith("/roster") else Role.PUPIL
    return Role.ORGANISER


def _name_known_things(case: schemathesis.Case[Any]) -> None:
    """A schema-valid case about the seeded career event, session and pupil (a negative case
    keeps what makes it invalid; revisions and cancellations keep their own ids, so that the
    seeded career event stays bookable)."""
    for name in set(KNOWN_IDS) & set(case.path_parameters or {}):
        case.path_parameters[name] = KNOWN_IDS[name]
    if isinstance(case.body, dict) and "participant_id" in case.body:
        case.body["participant_id"] = KNOWN_IDS["participant_id"]
    if case.query and "suitable_for" in case.query:
        case.query["suitable_for"] = KNOWN_IDS["participant_id"]


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
    # Every check but "schema-valid data is accepted": a career event of nobody, a session
    # ending before it starts, is schema-valid and rightly refused (404, 422).
    headers = {"Authorization": f"Bearer {TOKENS[_role_for(case.method, case.path)]}"}
    keeps_it = case.method != "PUT" and not case.path.endswith("/cancellation")
    if keeps_it and case.meta is not None and case.meta.generation.mode.is_positive:
        _name_known_things(case)
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
