"""The demo career events of `make run`, for identity's Leningrad oblast pupils in Luga.

Three organisers of the Luga district (invented: a college, a technopark, an agricultural
enterprise) offer six career events in several environments, each in two sessions
(`demo_offers`):

- **This week's**: the six published for the week of the start, their sessions one and two
  weeks ahead (always in the future), so a newcomer books with the printed pupil token; a few
  demo pupils already hold seats of the college's first one, so the printed organiser and mentor
  tokens see a roster. A start in a later week publishes that week's (the ids are derived from
  the week's Monday); earlier weeks' stay as they were.
- **The 2019 history**: the same six in November 2019, booked by most demo pupils whose
  guardian's consent covers career events, attended by most of them and given feedback by their
  mentors. Taken through the service's own use cases on a clock of 2019 (like diagnostics' demo
  history), so every rule applies: pupils without such a consent, or whose needs an event cannot
  accommodate, are refused as anyone would be.

Every id is derived (uuid5), so the banner of `bvb run` prints the organiser's and the mentor's
tokens before the server starts, and loading again adds nothing: a career event is published
once; the history's pupils are asked until its attendance is taken (a pupil with seats not
again), never after; attendance and feedback are given only where none is recorded. It runs in
the background of the start (`app.state.demo`).
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from uuid import UUID

from bilet.contracts.catalogue.events import (
    BookingCancelled,
    CareerEventAttended,
    CareerEventMissed,
    CareerEventPublished,
    InterestShown,
    MentorFeedbackGiven,
    SeatBooked,
    SkillShown,
    TaskCompletion,
)
from bilet.contracts.vocabulary import Environment, Level
from bilet.http.auth import Principal, Role
from bilet_events.application.eventlog import EVENT_LOG
from bilet_events.application.inputs import AttendanceRecord, CommandContext, FeedbackInput
from bilet_events.application.service import EventsService
from bilet_events.demo_offers import (
    HISTORY_BOOKED_AT,
    SCHOOLS,
    WEEK_PREBOOKED,
    demo_pupils,
    history,
    this_week,
)
from bilet_events.domain import career_event
from bilet_events.domain.errors import DomainError
from bilet_events.runtime import Runtime
from bilet_events.settings import EventsSettings

_log = logging.getLogger(__name__)


def booking_id(ce_id: UUID, participant_id: UUID) -> UUID:
    return uuid.uuid5(ce_id, f"booking:{participant_id}")


def organiser(organiser_id: UUID) -> CommandContext:
    principal = Principal(
        subject=f"demo-organiser-{organiser_id}", role=Role.ORGANISER, venue_id=str(organiser_id)
    )
    return CommandContext(principal, "demo-data")


def mentor(mentor_id: UUID) -> CommandContext:
    return CommandContext(Principal(subject=str(mentor_id), role=Role.MENTOR), "demo-data")


def registrar(school_id: UUID) -> CommandContext:
    principal = Principal(
        subject=f"demo-registrar-{school_id}", role=Role.REGISTRAR, school_id=str(school_id)
    )
    return CommandContext(principal, "demo-data")


class HistoryClock:
    """The clock of the 2019 history: moved to each step's day."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def on_history_clock(live: EventsService) -> tuple[EventsService, HistoryClock]:
    """The service on the same stores and facts, on a clock of 2019 the demo moves."""
    clock = HistoryClock(HISTORY_BOOKED_AT)
    service = EventsService(
        live.store, live.keystore, live.facts, live.listings, live.audit, clock=clock
    )
    return service, clock


@dataclass
class Ledger:
    """What a career event's stream holds, from its published events: the seats held (booking
    → participant, session), and the bookings with attendance recorded and with feedback."""

    seats: dict[UUID, tuple[UUID, UUID]]
    attended: set[UUID]
    recorded: set[UUID]
    feedback: set[UUID]

    @classmethod
    async def of(cls, service: EventsService, ce_id: UUID) -> "Ledger":
        stream = await EVENT_LOG.read(service.store, career_event.stream_id(ce_id))
        ledger = cls({}, set(), set(), set())
        for event in stream.events:
            match event:
                case SeatBooked():
                    ledger.seats[event.booking_id] = (event.participant_id, event.session_id)
                case BookingCancelled():
                    ledger.seats.pop(event.booking_id, None)
                case CareerEventAttended():
                    ledger.attended.add(event.booking_id)
                    ledger.recorded.add(event.booking_id)
                case CareerEventMissed():
                    ledger.recorded.add(event.booking_id)
                case MentorFeedbackGiven():
                    ledger.feedback.add(event.booking_id)
        return ledger

    def taken(self, session_id: UUID) -> int:
        return sum(1 for _, session in self.seats.values() if session == session_id)


async def load_demo_data(runtime: Runtime, settings: EventsSettings) -> None:
    """Load this week's career events and the 2019 history (idempotent on restart)."""
    del settings  # the demo has no settings of its own
    live = runtime.service
    # This week's first: a newcomer finds them in the catalogue while the history is taken.
    await load_this_week(live, live.clock().date())
    await load_history(*on_history_clock(live))


async def publish_all(service: EventsService, events: list[CareerEventPublished]) -> None:
    for event in events:
        stream = career_event.stream_id(event.career_event_id)
        if await service.store.stream_version(stream) is not None:
            continue
        await service.publish(organiser(event.organiser_id), event)


async def load_this_week(service: EventsService, today: date) -> None:
    """This week's career events, and a few pupils on the college's first session."""
    events = this_week(today)
    await publish_all(service, events)
    first = events[0]
    session = first.sessions[0]
    ledger = await Ledger.of(service, first.career_event_id)
    if ledger.seats:
        return
    booked = 0
    # СОШ № 5's pupils: the printed pupil (СОШ № 3's first) finds seats left to book.
    for participant_id, school_id in demo_pupils()[SCHOOLS[0][1] :]:
        if booked == WEEK_PREBOOKED:
            break
        booked += await _book(
            service, school_id, participant_id, first.career_event_id, session.session_id
        )
    _log.info("published this week's demo career events; %d demo pupils booked", booked)


async def load_history(service: EventsService, clock: HistoryClock) -> None:
    """The 2019 career events: booked by most demo pupils, attended, given feedback."""
    events = history()
    clock.now = HISTORY_BOOKED_AT
    await publish_all(service, events)
    ledgers = {e.career_event_id: await Ledger.of(service, e.career_event_id) for e in events}
    # Attendance is taken once every pupil had their try: then nobody is asked again (a pupil
    # refused for their needs would have them read, and audited, at every start).
    booked = 0
    if not any(ledger.recorded for ledger in ledgers.values()):
        booked = await _book_history(service, events, ledgers)
    given = 0
    for event in events:
        given += await _attend_and_give_feedback(service, clock, event)
    _log.info("loaded the 2019 demo career events: %d booked, %d feedback given", booked, given)


async def _book_history(
    service: EventsService, events: list[CareerEventPublished], ledgers: dict[UUID, Ledger]
) -> int:
    """Each demo pupil without a seat books one career event (three in ten two), in an order
    drawn for them, a session with seats left; returns how many seats were booked."""
    seated = {
        participant for ledger in ledgers.values() for participant, _ in ledger.seats.values()
    }
    booked = 0
    for participant_id, school_id in demo_pupils():
        if participant_id in seated:
            continue
        rng = random.Random(f"bilet-demo-events-{participant_id}")  # noqa: S311 - demo data
        wanted = 2 if rng.random() < 0.3 else 1
        for event in rng.sample(events, len(events)):
            ledger = ledgers[event.career_event_id]
            open_sessions = [s for s in event.sessions if ledger.taken(s.session_id) < s.capacity]
            if not open_sessions or wanted == 0:
                continue
            session = rng.choice(open_sessions)
            if await _book(
                service, school_id, participant_id, event.career_event_id, session.session_id
            ):
                ledger.seats[booking_id(event.career_event_id, participant_id)] = (
                    participant_id,
                    session.session_id,
                )
                wanted -= 1
                booked += 1
    return booked


async def _book(
    service: EventsService, school_id: UUID, participant_id: UUID, ce_id: UUID, session_id: UUID
) -> bool:
    """Book a seat as the pupil's school would; False if refused (or only a place in line)."""
    try:
        answer = await service.book(
            registrar(school_id),
            ce_id,
            session_id,
            participant_id,
            booking_id(ce_id, participant_id),
        )
    except DomainError as refused:
        _log.debug("demo pupil %s books no seat of %s: %s", participant_id, ce_id, refused.code)
        return False
    return answer.booked


async def _attend_and_give_feedback(
    service: EventsService, clock: HistoryClock, event: CareerEventPublished
) -> int:
    """After each session: who came (most), then the mentor's feedback for each of them."""
    ce_id = event.career_event_id
    ledger = await Ledger.of(service, ce_id)
    given = 0
    for session in event.sessions:
        bookings = sorted(b for b, (_, s) in ledger.seats.items() if s == session.session_id)
        clock.now = session.ends_at
        unrecorded = [b for b in bookings if b not in ledger.recorded]
        if unrecorded:
            records = [AttendanceRecord(b, _came(b)) for b in unrecorded]
            await service.record_attendance(
                organiser(event.organiser_id), ce_id, session.session_id, records
            )
            ledger.attended |= {r.booking_id for r in records if r.attended}
        clock.now = session.ends_at + timedelta(hours=2)
        for booking in bookings:
            if booking in ledger.attended and booking not in ledger.feedback:
                await service.give_feedback(
                    mentor(event.mentors[0]), ce_id, feedback(event, booking)
                )
                given += 1
    return given


def _came(booking: UUID) -> bool:
    return random.Random(f"came-{booking}").random() < 0.88  # noqa: S311 - demo data


_SKILLS: Final = (
    "communication",
    "teamwork",
    "self_organisation",
    "critical_thinking",
    "creativity",
)
_COMMENTS: Final = (
    "Внимательно выслушал(а) инструктаж, задание выполнено аккуратно.",
    "Много вопросов о профессии — стоит попробовать углублённый уровень.",
    "Хорошо работает в паре и помогает другим.",
    "Справился(лась) с заданием быстрее всей группы.",
    "Стоит ещё раз попробовать себя в этой профессии.",
)


def feedback(event: CareerEventPublished, booking: UUID) -> FeedbackInput:
    """The mentor's rubric for an attended booking, drawn from a fixed seed per booking."""
    rng = random.Random(f"bilet-demo-feedback-{booking}")  # noqa: S311 - demo data
    skills = rng.sample(_SKILLS, rng.randint(1, 3))
    suggested = {*event.environments[:1], rng.choice(list(Environment))}
    return FeedbackInput(
        feedback_id=uuid.uuid5(booking, "feedback"),
        booking_id=booking,
        task_completion=rng.choices(list(TaskCompletion), (6, 3, 1))[0],
        skills_shown=tuple(
            SkillShown(skill=skill, level=rng.choice(list(Level))) for skill in skills
        ),
        interest_shown=rng.choices(list(InterestShown), (1, 3, 4))[0],
        suggested_environments=tuple(sorted(suggested)),
        comment=rng.choice(_COMMENTS) if rng.random() < 0.6 else None,
    )
