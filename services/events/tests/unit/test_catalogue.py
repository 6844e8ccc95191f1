"""The catalogue read model: the service's own career events fed from an in-memory store into a
real SQLite read model, and what `Catalogue` answers — seats left per session through bookings,
the waitlist, promotions and cancellations; revisions and cancellations of career events; the
issue's filters; cursor paging by (earliest matching start, id)."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from bilet.contracts.catalogue.events import (
    BookingCancellationReason,
    BookingCancelled,
    CareerEventCancellationReason,
    CareerEventCancelled,
    CareerEventFormat,
    CareerEventPublished,
    CareerEventRevised,
    first_session_id,
)
from bilet.contracts.examples import EXAMPLES
from bilet.contracts.vocabulary import Environment
from bilet.eventstore import ANY, NewEvent
from bilet.projections.sqlite import SqliteReadModel
from bilet_events.adapters.facts import EVENTS, ReadModelCatalogue, ReadModelFacts
from bilet_events.application.facts import (
    CatalogueCursor,
    CatalogueEntry,
    CatalogueFilter,
    SessionSeats,
)
from bilet_events.facts_testing import (
    OTHER_REGION,
    REGION,
    FactsHistory,
    booked,
    career_event,
    facts_on_sqlite,
    session,
    waitlisted,
)

MONDAY = datetime(2019, 11, 11, 10, 0, tzinfo=UTC)


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[FactsHistory]:
    async with facts_on_sqlite(tmp_path) as history:
        yield history


async def _entry(history: FactsHistory, career_event_id: UUID) -> CatalogueEntry:
    entry = await history.catalogue.career_event(career_event_id)
    assert entry is not None
    return entry


def _cancelled(published: CareerEventPublished, booking_id: UUID) -> BookingCancelled:
    return BookingCancelled(
        career_event_id=published.career_event_id,
        booking_id=booking_id,
        participant_id=UUID(int=1),
        reason=BookingCancellationReason.PARTICIPANT_CANCELLED,
    )


async def _ids(history: FactsHistory, where: CatalogueFilter) -> list[UUID]:
    page = await history.catalogue.search(where, after=None, limit=50)
    return [entry.career_event.career_event_id for entry in page.entries]


async def test_a_published_career_event_is_listed_with_its_sessions_and_seats(
    history: FactsHistory,
) -> None:
    first, second = session(MONDAY, 2), session(MONDAY + timedelta(days=1), 5)
    published = career_event(second, first)
    await history.given(published)
    entry = await _entry(history, published.career_event_id)
    assert entry.career_event == published
    assert not entry.cancelled
    assert entry.sessions == (
        SessionSeats(first.session_id, first.starts_at, first.ends_at, 2, 2, 0),
        SessionSeats(second.session_id, second.starts_at, second.ends_at, 5, 5, 0),
    )
    assert entry.matching == (first.session_id, second.session_id)
    assert await history.catalogue.career_event(UUID(int=99)) is None


async def test_seats_follow_bookings_the_waitlist_promotions_and_cancellations(
    history: FactsHistory,
) -> None:
    sitting = session(MONDAY, 2)
    published = career_event(sitting)
    sid = sitting.session_id
    one, two, waiting = booked(published, sid), booked(published, sid), waitlisted(published, sid)
    await history.given(published, one, two, waiting)
    seats = (await _entry(history, published.career_event_id)).sessions[0]
    assert (seats.seats_left, seats.waiting) == (0, 1)

    # A seat released goes to the first waiting, under the booking id they waited with.
    await history.given(_cancelled(published, one.booking_id))
    assert (await _entry(history, published.career_event_id)).sessions[0].seats_left == 1
    await history.given(booked(published, sid, waiting.booking_id))
    seats = (await _entry(history, published.career_event_id)).sessions[0]
    assert (seats.seats_left, seats.waiting) == (0, 0)

    # Leaving the line frees no seat; an unknown booking changes nothing.
    late = waitlisted(published, sid)
    await history.given(late, _cancelled(published, late.booking_id))
    await history.given(_cancelled(published, UUID(int=5)))
    seats = (await _entry(history, published.career_event_id)).sessions[0]
    assert (seats.seats_left, seats.waiting) == (0, 0)


async def test_a_revision_replaces_details_and_sessions_keeping_the_ids_kept(
    history: FactsHistory,
) -> None:
    kept, dropped = session(MONDAY, 3), session(MONDAY + timedelta(days=2), 3)
    published = career_event(kept, dropped)
    added = session(MONDAY + timedelta(days=3), 4)
    bigger = kept.model_copy(update={"capacity": 6})
    details = published.model_dump(exclude={"career_event_id", "region_id", "season"})
    details.pop("organiser_id")
    revised = CareerEventRevised(
        career_event_id=published.career_event_id,
        **{**details, "title": "Агроном", "sessions": (bigger, added)},
    )
    await history.given(published, revised)
    entry = await _entry(history, published.career_event_id)
    assert entry.career_event.title == "Агроном"
    assert entry.career_event.organiser_id == published.organiser_id
    assert [(s.session_id, s.capacity, s.seats_left) for s in entry.sessions] == [
        (kept.session_id, 6, 6),
        (added.session_id, 4, 4),
    ]


async def test_a_cancelled_career_event_is_shown_by_id_and_never_listed(
    history: FactsHistory,
) -> None:
    published = career_event(session(MONDAY))
    await history.given(
        published,
        CareerEventCancelled(
            career_event_id=published.career_event_id,
            reason=CareerEventCancellationReason.SAFETY,
        ),
    )
    assert (await _entry(history, published.career_event_id)).cancelled
    assert await _ids(history, CatalogueFilter()) == []


async def test_each_filter_admits_what_it_says(history: FactsHistory) -> None:
    luga = career_event(session(MONDAY), environments=(Environment.AGRARIAN, Environment.SMART))
    spb = career_event(
        session(MONDAY + timedelta(days=1)),
        region_id=OTHER_REGION,
        municipality="Санкт-Петербург",
        grades=(6, 7),
        format=CareerEventFormat.ONLINE,
        environments=(Environment.CREATIVE,),
    )
    full_sitting = session(MONDAY + timedelta(days=2), 1)
    full = career_event(full_sitting)
    await history.given(luga, spb, full, booked(full, full_sitting.session_id))
    ids = luga.career_event_id, spb.career_event_id, full.career_event_id
    luga_id, spb_id, full_id = ids

    assert await _ids(history, CatalogueFilter()) == [luga_id, spb_id, full_id]
    assert await _ids(history, CatalogueFilter(region_id=REGION)) == [luga_id, full_id]
    assert await _ids(history, CatalogueFilter(municipality="Санкт-Петербург")) == [spb_id]
    assert await _ids(history, CatalogueFilter(environment=Environment.SMART)) == [luga_id]
    assert await _ids(history, CatalogueFilter(grade=7)) == [spb_id]
    assert await _ids(history, CatalogueFilter(grade=11)) == [luga_id, full_id]
    assert await _ids(history, CatalogueFilter(format=CareerEventFormat.ONLINE)) == [spb_id]
    assert await _ids(history, CatalogueFilter(min_seats_left=1)) == [luga_id, spb_id]
    window = CatalogueFilter(
        starts_from=MONDAY + timedelta(hours=1), starts_before=MONDAY + timedelta(days=2)
    )
    assert await _ids(history, window) == [spb_id]


async def test_only_the_matching_sessions_are_named_and_they_order_the_list(
    history: FactsHistory,
) -> None:
    early, late = session(MONDAY), session(MONDAY + timedelta(days=5))
    two = career_event(early, late)
    middle = career_event(session(MONDAY + timedelta(days=3)))
    await history.given(two, middle)
    # From Tuesday on, `two` starts on its later session, after `middle`.
    page = await history.catalogue.search(
        CatalogueFilter(starts_from=MONDAY + timedelta(days=1)), after=None, limit=10
    )
    assert [e.career_event.career_event_id for e in page.entries] == [
        middle.career_event_id,
        two.career_event_id,
    ]
    assert page.entries[1].matching == (late.session_id,)
    assert len(page.entries[1].sessions) == 2


async def test_pages_follow_one_another_without_gaps_or_repeats(history: FactsHistory) -> None:
    # Three career events share one start: the id breaks the tie.
    same = [career_event(session(MONDAY)) for _ in range(3)]
    others = [career_event(session(MONDAY + timedelta(hours=n))) for n in (1, 2)]
    await history.given(*same, *others)
    expected = [e.career_event_id for e in sorted(same, key=lambda e: e.career_event_id)]
    expected += [e.career_event_id for e in others]

    seen: list[UUID] = []
    cursor: CatalogueCursor | None = None
    pages = 0
    while True:
        page = await history.catalogue.search(CatalogueFilter(), after=cursor, limit=2)
        seen += [entry.career_event.career_event_id for entry in page.entries]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = CatalogueCursor.decode(page.next_cursor.encode())
    assert seen == expected
    assert pages == 3


def test_a_cursor_survives_its_encoding_and_nothing_else_decodes() -> None:
    cursor = CatalogueCursor(MONDAY, UUID(int=3))
    assert CatalogueCursor.decode(cursor.encode()) == cursor
    for junk in ("", "!!!", "bm90IGpzb24", "WyIyMDE5LTExLTExVDEwOjAwOjAwIiwgIngiXQ"):
        with pytest.raises(ValueError, match="not a catalogue cursor"):
            CatalogueCursor.decode(junk)


async def test_before_any_feed_the_catalogue_is_empty(tmp_path: Path) -> None:
    read_model = await SqliteReadModel.open(tmp_path / "empty.sqlite3")
    try:
        page = await ReadModelCatalogue(read_model).search(CatalogueFilter(), after=None, limit=5)
        assert page.entries == ()
        assert page.next_cursor is None
        assert await ReadModelFacts(read_model).max_career_events(2019) is None
    finally:
        await read_model.close()


async def test_a_version_1_career_event_is_listed_with_its_derived_session(
    history: FactsHistory,
) -> None:
    # The 2019 pilot's form, as it lies in a store: one time and one capacity of its own.
    data = EXAMPLES[("CareerEventPublished", 1)]
    v1 = NewEvent(
        type="CareerEventPublished",
        data=json.dumps(data).encode(),
        metadata=json.dumps({"schema_version": 1}).encode(),
    )
    career_event_id = UUID(str(data["career_event_id"]))
    await history.stores[EVENTS].append(f"career_event-{career_event_id}", [v1], ANY)
    await history.feed.catch_up({})
    entry = await _entry(history, career_event_id)
    (seats,) = entry.sessions
    assert seats.session_id == first_session_id(career_event_id)
    assert seats.seats_left == seats.capacity == data["capacity"]
    assert entry.matching == (seats.session_id,)
