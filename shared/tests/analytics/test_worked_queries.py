"""The worked queries of docs/analytics.md over a small world that has what the demo lacks:
diagnostics stages, bookings, a cancellation and attendance. Three pupils of Luga took all three
stages and booked the one career event; A attended, B cancelled, C's guardian did not consent
to analytics (C is left out of every answer)."""

import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from bilet.analytics import ExportRequest, ExportRun, StoreSource, connect
from bilet.contracts import CATALOGUE
from bilet.contracts import examples as ex
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import NewEvent
from bilet.eventstore.memory import InMemoryEventStore

DOCS = Path(__file__).resolve().parents[3] / "docs" / "analytics.md"
QUERY = re.compile(r"^### (\d+)\. (.+?)\n\n```sql\n(.*?)```", re.S | re.M)
ALL_PURPOSES = ["programme_participation", "online_diagnostics", "career_events"]
RESULTS: dict[str, dict[str, Any]] = {
    "soft_skills": {
        "instrument": {"instrument": "soft_skills_bank", "version": "1.0.0"},
        "levels": [{"skill": "teamwork", "level": "basic", "score": 3, "max_score": 5}],
    },
    "professions_knowledge": {
        "instrument": {"instrument": "professions_knowledge_bank", "version": "1.0.0"},
        "levels": [{"environment": "smart", "level": "basic", "score": 3, "max_score": 5}],
    },
}


def example(event_type: str, **changes: Any) -> tuple[str, dict[str, Any]]:
    version = CATALOGUE.latest(event_type).schema_version
    return event_type, {**ex.EXAMPLES[(event_type, version)], **changes}


def pupil_events(pupil: UUID, *, analytics: bool) -> list[tuple[str, dict[str, Any]]]:
    purposes = [*ALL_PURPOSES, "pseudonymised_analytics"] if analytics else ALL_PURPOSES
    events = [
        example("ParticipantRegistered", participant_id=str(pupil), season=2019),
        example(
            "ConsentVerified",
            participant_id=str(pupil),
            consent_id=str(uuid4()),
            purposes=purposes,
            valid_until="2099-12-31",  # in force whenever the test runs
        ),
    ]
    for stage in ("interests", "soft_skills", "professions_knowledge"):
        results: dict[str, Any] = dict.fromkeys(
            ("interests", "soft_skills", "professions_knowledge")
        )
        if stage != "interests":
            results = {**results, stage: RESULTS[stage]}
        else:
            results = {**results, "interests": ex.EXAMPLES[("StageCompleted", 1)]["interests"]}
        events.append(
            example(
                "StageCompleted",
                participant_id=str(pupil),
                attempt_id=str(uuid4()),
                stage=stage,
                **results,
            )
        )
    return events


async def world() -> dict[str, InMemoryEventStore]:
    stores = {service: InMemoryEventStore() for service in CATALOGUE.producers()}
    a, b, c = uuid4(), uuid4(), uuid4()
    booking = {pupil: uuid4() for pupil in (a, b, c)}
    events = [
        example("RegionAdmitted"),
        example("SchoolRegistered"),
        example("CareerEventPublished"),
    ]
    for pupil in (a, b, c):
        events += pupil_events(pupil, analytics=pupil != c)
        events.append(
            example("SeatBooked", participant_id=str(pupil), booking_id=str(booking[pupil]))
        )
    events.append(example("BookingCancelled", participant_id=str(b), booking_id=str(booking[b])))
    events.append(example("CareerEventAttended", participant_id=str(a), booking_id=str(booking[a])))
    for event_type, data in events:
        model = CATALOGUE.latest(event_type)
        event = model.model_validate_json(json.dumps(data))
        meta = json.dumps({"schema_version": model.schema_version}).encode()
        await stores[model.service].append(
            event.stream_id, [NewEvent(event_type, json.dumps(data).encode(), meta)]
        )
    return stores


async def test_the_worked_queries_answer_over_stages_bookings_and_attendance(
    tmp_path: Path,
) -> None:
    stores = await world()
    request = ExportRequest("docs", tmp_path / "export")
    await ExportRun(StoreSource(stores), InMemoryKeyStore(), request).execute()
    connection = connect(request.out)
    queries = {int(n): sql for n, _, sql in QUERY.findall(DOCS.read_text("utf-8"))}
    answers = {n: connection.execute(sql).fetchall() for n, sql in queries.items()}

    assert answers[1] == [("Лужский муниципальный район", "МОУ «СОШ № 3»", 7, 2)]
    (funnel,) = answers[3]
    assert funnel[2:] == (2, 2, 2, 1)  # registered, consented, all three stages, attended
    # A attended before the stages were recorded (the event is of 2019): only B counts
    assert [row[1] for row in answers[4]] == [1]
    assert answers[5] == [(7, "smart", 2)]
    assert [row[:3] for row in answers[6]] == [(7, "1.0.0", 2)]
    assert answers[6][0][3] == 88.0  # smart
    # Per session: capacity, taken (A; B cancelled), fill; the second session is empty
    assert [row[3:] for row in answers[7]] == [(12, 1, round(100 / 12, 1)), (12, 0, 0.0)]
    (region,) = answers[8]
    assert region[:2] == ("Ленинградская область", 1)
    assert dict(answers[10]) == dict.fromkeys([*ALL_PURPOSES, "pseudonymised_analytics"], 2)
