"""The catalogue use cases (issue 14): one career event, and `suitable_for` a pupil — who may
ask, the needs covered (only under a health consent), no career event they hold a seat of, no
session overlapping their seats, and paging that stays correct when entries are dropped."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet.application import RequestContext
from bilet.contracts.catalogue.events import CareerEventPublished
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http.auth import Principal, Role
from bilet_events.application.errors import UnknownParticipant
from bilet_events.application.facts import CatalogueFilter, CataloguePage
from bilet_events.domain.errors import UnknownCareerEvent
from bilet_events.testing import REGION, WITH_HEALTH_DATA, World, career_event

STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
NOW = STARTS - timedelta(days=7)
EVERYTHING = CatalogueFilter()
QUIET = AccessibilityNeed.QUIET_SPACE


@pytest.fixture
def world() -> World:
    return World.over(InMemoryEventStore(), NOW)


async def listed(
    world: World, day: int, accommodates: tuple[AccessibilityNeed, ...] = ()
) -> CareerEventPublished:
    """A career event starting on `day`, published (for bookings) and listed."""
    event = career_event(uuid4(), STARTS + timedelta(days=day), capacity=5).model_copy(
        update={"accommodates": accommodates}
    )
    await world.service.publish(world.as_organiser(), event)
    world.listings.list(event)
    return event


def ids(page: CataloguePage) -> list[UUID]:
    return [entry.career_event.career_event_id for entry in page.entries]


async def test_one_career_event_and_an_unknown_one(world: World) -> None:
    event = await listed(world, 0)
    entry = await world.service.career_event(world.as_pupil(uuid4()), event.career_event_id)
    assert entry.career_event == event
    with pytest.raises(UnknownCareerEvent):
        await world.service.career_event(world.as_pupil(uuid4()), uuid4())


async def test_suitable_for_leaves_out_what_the_pupil_holds_or_overlaps(world: World) -> None:
    pupil = world.enrol(uuid4())
    held, overlapping, free = await listed(world, 0), await listed(world, 0), await listed(world, 1)
    await world.service.book(
        world.as_pupil(pupil), held.career_event_id, held.sessions[0].session_id, pupil, uuid4()
    )
    page = await world.service.catalogue(
        world.as_pupil(pupil), EVERYTHING, after=None, limit=10, suitable_for=pupil
    )
    assert ids(page) == [free.career_event_id]
    assert overlapping.career_event_id not in ids(page)
    everything = await world.service.catalogue(
        world.as_pupil(pupil), EVERYTHING, after=None, limit=10
    )
    assert len(everything.entries) == 3


async def test_suitable_for_covers_needs_only_under_a_health_consent(world: World) -> None:
    quiet, plain = await listed(world, 0, (QUIET,)), await listed(world, 1)
    pupil = world.enrol(uuid4(), purposes=WITH_HEALTH_DATA)
    await world.state_needs(pupil, [QUIET])
    ctx = world.as_pupil(pupil)
    page = await world.service.catalogue(ctx, EVERYTHING, after=None, limit=10, suitable_for=pupil)
    assert ids(page) == [quiet.career_event_id]
    world.enrol(pupil)  # the consent no longer covers health data: needs are not considered
    await world.state_needs(pupil, [QUIET])
    page = await world.service.catalogue(ctx, EVERYTHING, after=None, limit=10, suitable_for=pupil)
    assert ids(page) == [quiet.career_event_id, plain.career_event_id]


async def test_suitable_for_another_region_or_grade_is_empty(world: World) -> None:
    await listed(world, 0)
    pupil = world.enrol(uuid4())
    ctx = world.as_pupil(pupil)
    for where in (CatalogueFilter(region_id=uuid4()), CatalogueFilter(grade=11)):
        page = await world.service.catalogue(ctx, where, after=None, limit=5, suitable_for=pupil)
        assert page.entries == ()
        assert page.next_cursor is None
    same = CatalogueFilter(region_id=REGION, grade=8)
    page = await world.service.catalogue(ctx, same, after=None, limit=5, suitable_for=pupil)
    assert len(page.entries) == 1


async def test_suitable_for_pages_past_dropped_entries(world: World) -> None:
    pupil = world.enrol(uuid4(), purposes=WITH_HEALTH_DATA)
    await world.state_needs(pupil, [QUIET])
    # Days 0..9: only every third accommodates the pupil.
    events = [await listed(world, day, (QUIET,) if day % 3 == 0 else ()) for day in range(10)]
    suiting = [e.career_event_id for n, e in enumerate(events) if n % 3 == 0]
    ctx = world.as_pupil(pupil)
    seen: list[UUID] = []
    cursor = None
    pages = 0
    while True:
        page = await world.service.catalogue(
            ctx, EVERYTHING, after=cursor, limit=2, suitable_for=pupil
        )
        pages += 1
        seen += ids(page)
        assert len(page.entries) == 2 or page.next_cursor is None
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == suiting
    assert pages == 2


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("guardian", True),
        ("registrar", True),
        ("navigator", True),
        ("other_guardian", False),
        ("other_pupil", False),
        ("organiser", False),
        ("other_school", False),
    ],
)
async def test_who_may_ask_what_suits_a_pupil(world: World, who: str, allowed: bool) -> None:
    await listed(world, 0)
    pupil = world.enrol(uuid4())
    school = str(world.school_id)
    caller = {
        "guardian": Principal("g", Role.GUARDIAN, children=frozenset({str(pupil)})),
        "other_guardian": Principal("g", Role.GUARDIAN, children=frozenset({str(uuid4())})),
        "registrar": Principal("r", Role.REGISTRAR, school_id=school),
        "navigator": Principal("n", Role.NAVIGATOR, school_id=school),
        "other_school": Principal("n", Role.NAVIGATOR, school_id=str(uuid4())),
        "other_pupil": Principal("p", Role.PUPIL, participant_id=str(uuid4())),
        "organiser": Principal("o", Role.ORGANISER, venue_id=str(uuid4())),
    }[who]
    ctx = RequestContext(caller)
    if allowed:
        page = await world.service.catalogue(
            ctx, EVERYTHING, after=None, limit=5, suitable_for=pupil
        )
        assert len(page.entries) == 1
    else:
        with pytest.raises(UnknownParticipant):
            await world.service.catalogue(ctx, EVERYTHING, after=None, limit=5, suitable_for=pupil)
