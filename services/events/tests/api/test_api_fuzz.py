"""Career events' API under the shared schemathesis harness (`tests/support/api_fuzz.py`), on
the real runtime (the read model fed from identity's and consent's stores and its own): whatever
a client sends, the service answers as documented and never with a server error. Each operation
is called with the token of a role that may call it (the organiser of the college for publishing
and the roster, a mentor for feedback, a pupil for the rest), so the calls reach the use cases."""

import asyncio
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import schemathesis

from bilet.contracts import EventMetadata, encode
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.stores import open_source_stores
from bilet_events import facts_testing as given
from bilet_events.app import create_app
from bilet_events.settings import EventsSettings
from tests.support.api_fuzz import ApiFuzz, grades_in_order, json_body

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
SIGNER = ensure_development_keys(VAR_DIR)
TOKENS = {
    Role.PUPIL: SIGNER.mint(Role.PUPIL, participant=str(PUPIL)),
    Role.ORGANISER: SIGNER.mint(Role.ORGANISER, venue=str(COLLEGE)),
    Role.MENTOR: SIGNER.mint(Role.MENTOR, subject=str(MENTOR)),
}


def caller(method: str, path: str) -> str:
    if path.endswith("/feedback") or path.endswith("/attendance"):
        return TOKENS[Role.MENTOR]
    if path.endswith("/bookings") or "/bookings/" in path or method == "GET":
        return TOKENS[Role.ORGANISER if path.endswith("/roster") else Role.PUPIL]
    return TOKENS[Role.ORGANISER]


def keeps_own_ids(case: schemathesis.Case[Any]) -> bool:
    """Revisions and cancellations keep their own ids, so that the seeded career event stays
    bookable."""
    return case.method.upper() == "PUT" or case.path.endswith("/cancellation")


VENUE = {
    "kind": "college",
    "name": "ГБПОУ «Лужский агропромышленный техникум»",
    "address": "Луга, ул. Ленина, 1",
    "municipality": "Лужский муниципальный район",
}


def meet_rules(case: schemathesis.Case[Any]) -> None:
    """Rules across fields: a session ends after it starts; a mentor names each skill once."""
    body = json_body(case)
    for session in body.get("sessions") or []:
        if isinstance(session, dict) and "starts_at" in session:
            starts = datetime.fromisoformat(session["starts_at"])
            session["ends_at"] = (starts + timedelta(hours=2)).isoformat()
    if "format" in body:  # a venue exactly when in person
        body["venue"] = VENUE if body["format"] == "in_person" else None
    grades_in_order(body)
    shown = body.get("skills_shown")
    if isinstance(shown, list):
        body["skills_shown"] = list({s["skill"]: s for s in shown if isinstance(s, dict)}.values())


FUZZ = ApiFuzz(
    app=create_app(SETTINGS),
    openapi_path="/events/openapi.json",
    var_dir=VAR_DIR,
    caller=caller,
    known={**KNOWN_IDS, "suitable_for": KNOWN_IDS["participant_id"]},
    keeps_own_ids=keeps_own_ids,
    meet_rules=meet_rules,
)
_stop_the_service = FUZZ.lifespan_fixture()
test_the_api_answers_as_documented = FUZZ.test()
