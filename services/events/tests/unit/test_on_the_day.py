"""The organiser's and the mentor's use cases (issue 14): revising before the first booking,
attendance of many bookings in one commit, mentor feedback with a sealed comment, and the
roster (names, schools, attendance, the accessibility summary; audited; theirs only)."""

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet.application import RequestContext
from bilet.audit import AUDIT_CATEGORY
from bilet.contracts import decode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import (
    CareerEventRevised,
    InterestShown,
    MentorFeedbackGiven,
    SkillShown,
    TaskCompletion,
)
from bilet.contracts.sealed import SealedValue
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, Level
from bilet.crypto import FieldCipher
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http.auth import Principal, Role
from bilet_events.application.errors import AccessDenied
from bilet_events.application.inputs import AttendanceRecord, FeedbackInput
from bilet_events.application.roster import NeedCount
from bilet_events.application.streams import career_event_of
from bilet_events.domain.errors import (
    AttendanceRecorded,
    BookingsExist,
    DomainError,
    FeedbackGiven,
    NotAttended,
    UnknownBooking,
    UnknownCareerEvent,
)
from bilet_events.testing import ORGANISER, World, career_event

STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
NOW = STARTS - timedelta(days=7)
ON_THE_DAY = STARTS + timedelta(minutes=10)
QUIET = AccessibilityNeed.QUIET_SPACE
STEP_FREE = AccessibilityNeed.STEP_FREE_ACCESS
HEALTH = frozenset({Purpose.PROGRAMME_PARTICIPATION, Purpose.CAREER_EVENTS, Purpose.HEALTH_DATA})


@pytest.fixture
def world() -> World:
    return World.over(InMemoryEventStore(), NOW)


def stranger_organiser() -> RequestContext:
    return RequestContext(Principal("org2", Role.ORGANISER, venue_id=str(uuid4())))


async def facts_stored(world: World) -> int:
    return sum(1 for e in await world.service.store.read_all() if e.category != AUDIT_CATEGORY)


async def published_with_bookings(
    world: World, pupils: int, capacity: int = 3
) -> tuple[UUID, UUID, list[tuple[UUID, UUID]]]:
    """A career event (quiet room, step-free) and `pupils` pupils booked in order."""
    event = career_event(uuid4(), STARTS, capacity=capacity).model_copy(
        update={"accommodates": (QUIET, STEP_FREE)}
    )
    await world.service.publish(world.as_organiser(), event)
    session = event.sessions[0].session_id
    booked = []
    for _ in range(pupils):
        pupil, booking = world.enrol(uuid4()), uuid4()
        await world.service.book(
            world.as_pupil(pupil), event.career_event_id, session, pupil, booking
        )
        booked.append((pupil, booking))
    return event.career_event_id, session, booked


# ---------------------------------------------------------------------- revise
def revision(event_id: UUID, capacity: int) -> CareerEventRevised:
    details = career_event(event_id, STARTS, capacity=capacity).model_dump(
        exclude={"region_id", "season", "organiser_id"}
    )
    return CareerEventRevised.model_validate(details)


async def test_revise_by_the_organiser_before_the_first_booking(world: World) -> None:
    event_id, _, _ = await published_with_bookings(world, 0)
    answer = await world.service.revise(world.as_organiser(), revision(event_id, 7))
    assert answer.id == event_id
    state = await world.service.transactor.attempt().state(career_event_of(event_id))
    assert [s.details.capacity for s in state.sessions.values()] == [7]


@pytest.mark.parametrize("case", ["booked", "stranger", "mentor"])
async def test_refused_revisions_change_nothing(world: World, case: str) -> None:
    event_id, _, _ = await published_with_bookings(world, 1 if case == "booked" else 0)
    caller = {
        "booked": world.as_organiser(),
        "stranger": stranger_organiser(),
        "mentor": world.as_mentor(),
    }[case]
    expected: type[DomainError] = {
        "booked": BookingsExist,
        "stranger": UnknownCareerEvent,
        "mentor": AccessDenied,
    }[case]
    before = await facts_stored(world)
    with pytest.raises(expected):
        await world.service.revise(caller, revision(event_id, 7))
    assert await facts_stored(world) == before


# ---------------------------------------------------------------------- attendance
async def test_attendance_of_a_session_in_one_commit(world: World) -> None:
    event_id, session, booked = await published_with_bookings(world, 3)
    world.clock.now = ON_THE_DAY
    records = [AttendanceRecord(b, attended=n != 1) for n, (_, b) in enumerate(booked)]
    before = await world.service.store.read_all()
    answer = await world.service.record_attendance(world.as_organiser(), event_id, session, records)
    after = await world.service.store.read_all()
    new = after[len(before) :]
    assert [e.type for e in new] == [
        "CareerEventAttended",
        "CareerEventMissed",
        "CareerEventAttended",
    ]
    assert max(e.position for e in new) == answer.position


@pytest.mark.parametrize("case", ["twice_in_one", "unknown", "recorded_before"])
async def test_one_refused_record_refuses_them_all(world: World, case: str) -> None:
    event_id, session, booked = await published_with_bookings(world, 2)
    world.clock.now = ON_THE_DAY
    first = AttendanceRecord(booked[0][1], attended=True)
    second = AttendanceRecord(booked[1][1], attended=True)
    if case == "recorded_before":
        await world.service.record_attendance(world.as_mentor(), event_id, session, [second])
    records = {
        "twice_in_one": [first, second, first],
        "unknown": [first, AttendanceRecord(uuid4(), attended=False)],
        "recorded_before": [first, second],
    }[case]
    expected = UnknownBooking if case == "unknown" else AttendanceRecorded
    before = await facts_stored(world)
    with pytest.raises(expected):
        await world.service.record_attendance(world.as_organiser(), event_id, session, records)
    assert await facts_stored(world) == before


# ---------------------------------------------------------------------- feedback
def rubric(booking: UUID, comment: str | None = "Отлично справился с заданием!") -> FeedbackInput:
    return FeedbackInput(
        feedback_id=uuid4(),
        booking_id=booking,
        task_completion=TaskCompletion.PARTLY_COMPLETED,
        skills_shown=(SkillShown(skill="teamwork", level=Level.PROFICIENT),),
        interest_shown=InterestShown.HIGH,
        suggested_environments=(Environment.AGRARIAN, Environment.SMART),
        comment=comment,
    )


async def test_feedback_by_a_mentor_for_an_attended_pupil_with_a_sealed_comment(
    world: World,
) -> None:
    event_id, session, [(pupil, booking)] = await published_with_bookings(world, 1)
    world.clock.now = ON_THE_DAY
    await world.service.record_attendance(
        world.as_mentor(), event_id, session, [AttendanceRecord(booking, attended=True)]
    )
    feedback = rubric(booking)
    answer = await world.service.give_feedback(world.as_mentor(), event_id, feedback)
    assert answer.id == feedback.feedback_id
    [recorded] = [
        e for e in await world.service.store.read_all() if e.type == "MentorFeedbackGiven"
    ]
    assert "Отлично".encode() not in recorded.data
    assert "Отлично" not in json.dumps(json.loads(recorded.data), ensure_ascii=False)
    given = decode(recorded)
    assert isinstance(given, MentorFeedbackGiven)
    assert isinstance(given.comment, SealedValue)
    assert given.participant_id == pupil
    opened = await FieldCipher(world.keystore).decrypt(
        str(pupil), {"comment": given.comment.envelope()}
    )
    assert opened["comment"] == feedback.comment
    with pytest.raises(FeedbackGiven):
        await world.service.give_feedback(world.as_mentor(), event_id, rubric(booking))


@pytest.mark.parametrize("case", ["not_attended", "missed", "other_mentor", "organiser"])
async def test_refused_feedback_changes_nothing(world: World, case: str) -> None:
    event_id, session, [(_, booking)] = await published_with_bookings(world, 1)
    world.clock.now = ON_THE_DAY
    if case == "missed":
        await world.service.record_attendance(
            world.as_mentor(), event_id, session, [AttendanceRecord(booking, attended=False)]
        )
    caller = {
        "not_attended": world.as_mentor(),
        "missed": world.as_mentor(),
        "other_mentor": world.as_mentor(uuid4()),
        "organiser": world.as_organiser(),
    }[case]
    expected: type[DomainError] = {
        "not_attended": NotAttended,
        "missed": NotAttended,
        "other_mentor": UnknownCareerEvent,
        "organiser": AccessDenied,
    }[case]
    before = await facts_stored(world)
    with pytest.raises(expected):
        await world.service.give_feedback(caller, event_id, rubric(booking))
    assert await facts_stored(world) == before


# ---------------------------------------------------------------------- roster
async def test_the_roster_for_the_check_in(world: World) -> None:
    event_id, session, _booked = await published_with_bookings(world, 0, capacity=2)
    names = [("Иванова", "Мария"), ("Петров", "Илья"), ("Сидоров", "Олег")]
    pupils = []
    for last, first in names:
        pupil = world.enrol(uuid4(), purposes=HEALTH)
        await world.name(pupil, last, first, school="МОУ «СОШ № 3»")
        pupils.append(pupil)
    await world.state_needs(pupils[0], [QUIET, STEP_FREE])
    await world.state_needs(pupils[1], [QUIET])
    bookings = []
    for pupil in pupils:
        bookings.append(uuid4())
        await world.service.book(world.as_pupil(pupil), event_id, session, pupil, bookings[-1])
    world.clock.now = ON_THE_DAY
    await world.service.record_attendance(
        world.as_mentor(), event_id, session, [AttendanceRecord(bookings[1], attended=False)]
    )
    before = len(await world.service.store.read_all())
    roster = await world.service.roster(world.as_organiser(), event_id)
    [seen] = roster.sessions
    assert seen.session_id == session
    assert seen.capacity == 2
    assert seen.waiting == 1
    assert [(p.display_name, p.school_name, p.attendance) for p in seen.pupils] == [
        ("Иванова Мария", "МОУ «СОШ № 3»", "booked"),
        ("Петров Илья", "МОУ «СОШ № 3»", "missed"),
    ]
    assert seen.accessibility == (NeedCount(STEP_FREE, 1), NeedCount(QUIET, 2))
    trail = [json.loads(e.data) for e in (await world.service.store.read_all())[before:]]
    shown = ("accessibility_needs", "full_name", "school")
    assert {(r["subject"], r["purpose"], tuple(r["fields"])) for r in trail} == {
        (str(pupils[0]), "career_event_roster", shown),
        (str(pupils[1]), "career_event_roster", shown),
    }
    assert (await world.service.roster(world.as_mentor(), event_id)) == roster


async def test_an_erased_pupils_name_is_gone_from_the_roster(world: World) -> None:
    event_id, _session, [(pupil, _)] = await published_with_bookings(world, 1)
    await world.name(pupil, "Иванова", "Мария")
    await FieldCipher(world.keystore).erase(str(pupil))
    before = len(await world.service.store.read_all())
    [seen] = (await world.service.roster(world.as_organiser(), event_id)).sessions
    assert [p.display_name for p in seen.pupils] == [None]
    [record] = [json.loads(e.data) for e in (await world.service.store.read_all())[before:]]
    assert (record["subject"], record["fields"]) == (str(pupil), ["school"])


@pytest.mark.parametrize("role", ["stranger", "other_mentor", "pupil", "coordinator"])
async def test_the_roster_is_theirs_only(world: World, role: str) -> None:
    event_id, _, [(pupil, _)] = await published_with_bookings(world, 1)
    caller = {
        "stranger": stranger_organiser(),
        "other_mentor": world.as_mentor(uuid4()),
        "pupil": world.as_pupil(pupil),
        "coordinator": RequestContext(Principal("c", Role.COORDINATOR, region_id=str(ORGANISER))),
    }[role]
    with pytest.raises(UnknownCareerEvent):
        await world.service.roster(caller, event_id)
