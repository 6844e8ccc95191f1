"""The events service's read model on PostgreSQL: one history (season rules revised, schools,
registrations with sealed needs, needs stated again under a new key generation, consents with and
without health data, a withdrawal, an erasure, career events published, revised and cancelled,
bookings, the waitlist, a promotion and cancellations) gives the same answers there as on SQLite,
and the answers the history means."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import (
    BookingCancellationReason,
    BookingCancelled,
    CareerEventCancellationReason,
    CareerEventCancelled,
    CareerEventFormat,
    CareerEventRevised,
)
from bilet.contracts.vocabulary import Environment
from bilet.facts.testing import answers_on_sqlite, postgres_read_model
from bilet.projections import ReadModel
from bilet_events.application.facts import (
    Attendee,
    CatalogueCursor,
    CatalogueEntry,
    CatalogueFilter,
    Pupil,
    SealedNeeds,
)
from bilet_events.facts_testing import (
    OTHER_REGION,
    PARTICIPATION,
    REGION,
    FactsHistory,
    booked,
    career_event,
    envelope,
    erased,
    needs_corrected,
    registered,
    rules,
    school,
    session,
    verified,
    waitlisted,
    withdrawn,
)

pytestmark = pytest.mark.integration

TODAY = date(2019, 10, 31)
MONDAY = datetime(2019, 11, 11, 10, 0, tzinfo=UTC)
PUPILS = [uuid.UUID(int=n) for n in range(1, 5)]
EVENTS = [uuid.UUID(int=100 + n) for n in range(4)]
SITTINGS = [uuid.UUID(int=200 + n) for n in range(5)]


def _history() -> list[DomainEvent]:
    plain, health, restated, gone = PUPILS
    small = career_event(session(MONDAY, 2, SITTINGS[0]), career_event_id=EVENTS[0])
    online = career_event(
        session(MONDAY + timedelta(days=1), 5, SITTINGS[1]),
        career_event_id=EVENTS[1],
        region_id=OTHER_REGION,
        municipality="Санкт-Петербург",
        format=CareerEventFormat.ONLINE,
        environments=(Environment.CREATIVE,),
        grades=(6, 7),
    )
    revised_one = career_event(session(MONDAY, 3, SITTINGS[2]), career_event_id=EVENTS[2])
    details = revised_one.model_dump(
        exclude={"career_event_id", "region_id", "season", "organiser_id"}
    )
    later = session(MONDAY + timedelta(days=4), 8, SITTINGS[3])
    cancelled = career_event(session(MONDAY, 3, SITTINGS[4]), career_event_id=EVENTS[3])
    one, two = booked(small, SITTINGS[0]), booked(small, SITTINGS[0])
    waiting = waitlisted(small, SITTINGS[0])
    return [
        rules(2019, 1, max_career_events=3),
        rules(2019, 2, max_career_events=4),
        school(),
        *(registered(pupil) for pupil in PUPILS),
        verified(plain),
        verified(health, purposes=(*PARTICIPATION, Purpose.HEALTH_DATA)),
        verified(restated, purposes=(*PARTICIPATION, Purpose.HEALTH_DATA)),
        needs_corrected(restated, "restated", generation=2),
        verified(gone),
        withdrawn(gone, date(2019, 10, 20)),
        erased(gone),
        small,
        online,
        revised_one,
        CareerEventRevised(
            career_event_id=revised_one.career_event_id,
            **{**details, "title": "Агроном", "sessions": (later,)},
        ),
        cancelled,
        CareerEventCancelled(
            career_event_id=cancelled.career_event_id,
            reason=CareerEventCancellationReason.TOO_FEW_BOOKINGS,
        ),
        one,
        two,
        waiting,
        BookingCancelled(
            career_event_id=small.career_event_id,
            booking_id=one.booking_id,
            participant_id=one.participant_id,
            reason=BookingCancellationReason.PARTICIPANT_CANCELLED,
        ),
        booked(small, SITTINGS[0], waiting.booking_id),
    ]


Answers = tuple[
    list[Pupil | None],
    int | None,
    list[list[uuid.UUID]],
    list[list[uuid.UUID]],
    list[CatalogueEntry | None],
    dict[uuid.UUID, Attendee],
]


async def _answers(read_model: ReadModel) -> Answers:
    history = FactsHistory(read_model)
    await history.given(*_history())
    catalogue = history.catalogue

    async def ids(where: CatalogueFilter) -> list[uuid.UUID]:
        page = await catalogue.search(where, after=None, limit=10)
        return [entry.career_event.career_event_id for entry in page.entries]

    paged: list[list[uuid.UUID]] = []
    cursor: CatalogueCursor | None = None
    while True:
        page = await catalogue.search(CatalogueFilter(), after=cursor, limit=1)
        paged.append([entry.career_event.career_event_id for entry in page.entries])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return (
        [await history.facts.pupil(pupil, TODAY) for pupil in PUPILS],
        await history.facts.max_career_events(2019),
        [
            await ids(where)
            for where in (
                CatalogueFilter(),
                CatalogueFilter(region_id=REGION, grade=9),
                CatalogueFilter(environment=Environment.CREATIVE),
                CatalogueFilter(format=CareerEventFormat.IN_PERSON, min_seats_left=1),
                CatalogueFilter(starts_from=MONDAY + timedelta(hours=1)),
                CatalogueFilter(starts_before=MONDAY + timedelta(hours=1)),
            )
        ],
        paged,
        [await catalogue.career_event(event) for event in EVENTS],
        await history.facts.attendees(PUPILS),
    )


@pytest.fixture
async def postgres(database_url: str) -> AsyncIterator[ReadModel]:
    async with postgres_read_model(database_url, "t_events_rm") as read_model:
        yield read_model


async def test_postgresql_answers_as_sqlite_does_and_as_the_history_means(
    postgres: ReadModel, tmp_path: Path
) -> None:
    expected = await answers_on_sqlite(tmp_path / "events-readmodel.sqlite3", _answers)
    answers = await _answers(postgres)
    assert answers == expected

    pupils, maximum, filtered, paged, entries, attendees = answers
    plain, health, restated, gone = pupils
    assert plain is not None
    assert plain.accessibility_needs is None
    assert health is not None
    assert health.accessibility_needs == SealedNeeds(envelope("accessibility_needs"), 1)
    assert restated is not None
    assert restated.accessibility_needs == SealedNeeds(envelope("restated"), 2)
    assert gone is not None
    assert gone.erased
    assert gone.sealed_needs is None
    assert maximum == 4

    small, online, revised, cancelled = EVENTS
    everything, luga_grade_9, creative, in_person_free, after_ten, before_eleven = filtered
    assert everything == [small, online, revised]
    assert cancelled not in everything
    assert luga_grade_9 == [small, revised]
    assert creative == [online]
    assert in_person_free == [revised]  # the small one is full again after the promotion
    assert after_ten == [online, revised]
    assert before_eleven == [small]
    assert paged == [[small], [online], [revised]]

    small_entry, _, revised_entry, cancelled_entry = entries
    assert small_entry is not None
    assert (small_entry.sessions[0].seats_left, small_entry.sessions[0].waiting) == (0, 0)
    assert revised_entry is not None
    assert revised_entry.career_event.title == "Агроном"
    assert [s.session_id for s in revised_entry.sessions] == [SITTINGS[3]]
    assert cancelled_entry is not None
    assert cancelled_entry.cancelled
    # The roster's facts: the sealed name as registered, the school's name; none once erased.
    assert attendees[plain.participant_id].sealed_full_name == envelope("full_name")
    assert attendees[plain.participant_id].school_name == "МОУ «СОШ № 3»"
    assert attendees[gone.participant_id].sealed_full_name is None
