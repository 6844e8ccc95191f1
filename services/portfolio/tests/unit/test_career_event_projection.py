"""The portfolio projects career events of version 2 (docs/adr/0027): a booking shows the
session booked; a waitlisted request is shown as waitlisted, never as booked, until a promotion
books it; a no-show is missed; a revision replaces what was stated; feedback is a rubric."""

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from bilet.contracts.catalogue import events
from bilet.contracts.vocabulary import Environment, GradeRange, Level
from bilet.projections import ReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters.readmodel import SqlPortfolioReader
from bilet_portfolio.adapters.testing import apply_in_order
from bilet_portfolio.domain.views import BookingRecord, PortfolioRecord

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder


def _at(day: int, hour: int) -> datetime:
    return datetime(2019, 11, day, hour, tzinfo=UTC)


class World:
    """One consenting pupil and one career event of two sessions, in a fresh read model."""

    def __init__(self, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder") -> None:
        self.c, self.ids, self.recorder = catalogue, ids, recorder
        self.pupil = ids.pupil("sessions")
        self.career_event_id = ids.uid("career-event:sessions")
        self.first, self.second = ids.uid("session:1"), ids.uid("session:2")

    def sessions(self) -> tuple[events.CareerEventSession, ...]:
        return (
            events.CareerEventSession(
                session_id=self.first, starts_at=_at(12, 10), ends_at=_at(12, 13), capacity=1
            ),
            events.CareerEventSession(
                session_id=self.second, starts_at=_at(14, 10), ends_at=_at(14, 12), capacity=1
            ),
        )

    async def start(self, tmp_path: Path) -> tuple[ReadModel, SqlPortfolioReader]:
        read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
        consent = self.ids.uid("consent:sessions")
        published = self.c.career_event(self.career_event_id)
        two_sessions = events.CareerEventPublished.model_validate(
            {**published.model_dump(), "sessions": self.sessions()}
        )
        await self.apply(
            read_model,
            self.c.season_rules(),
            self.c.region(),
            self.c.school(self.ids.school_3),
            await self.c.registered(self.pupil),
            await self.c.submitted(self.pupil, consent),
            self.c.verified(self.pupil, consent),
            two_sessions,
        )
        return read_model, SqlPortfolioReader(read_model)

    async def apply(self, read_model: ReadModel, *domain_events: Any) -> None:
        await apply_in_order(read_model, [self.recorder.record(e) for e in domain_events])

    async def portfolio(self, reader: SqlPortfolioReader) -> PortfolioRecord:
        snapshot = await reader.portfolio(str(self.pupil), lambda _: True)
        assert snapshot is not None
        assert snapshot.record is not None
        return snapshot.record

    async def booking(self, reader: SqlPortfolioReader, booking_id: UUID) -> BookingRecord:
        record = await self.portfolio(reader)
        (booking,) = [b for b in record.bookings if b.booking_id == str(booking_id)]
        return booking

    async def booked_count(self, reader: SqlPortfolioReader) -> int:
        snapshot = await reader.participant(str(self.pupil))
        assert snapshot is not None
        return snapshot.participant.progress.career_events_booked


async def test_a_booking_shows_the_session_it_is_on(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    world = World(catalogue, ids, recorder)
    read_model, reader = await world.start(tmp_path)
    booking_id = ids.uid("booking:second")
    await world.apply(
        read_model, catalogue.booked(world.career_event_id, booking_id, world.pupil, world.second)
    )
    booking = await world.booking(reader, booking_id)
    assert booking.status == "booked"
    assert booking.route == "booked"
    assert booking.session == {
        "session_id": str(world.second),
        "starts_at": "2019-11-14T10:00:00.000000Z",
        "ends_at": "2019-11-14T12:00:00.000000Z",
    }
    assert booking.career_event is not None
    # The career event spans its sessions.
    assert booking.career_event.starts_at == "2019-11-12T10:00:00.000000Z"
    assert booking.career_event.ends_at == "2019-11-14T12:00:00.000000Z"
    assert (booking.career_event.level, booking.career_event.format) == (
        "introductory",
        "in_person",
    )
    assert await world.booked_count(reader) == 1
    await read_model.close()


async def test_a_waitlisted_request_is_shown_as_waitlisted_never_as_booked(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    world = World(catalogue, ids, recorder)
    read_model, reader = await world.start(tmp_path)
    booking_id = ids.uid("booking:waiting")
    await world.apply(
        read_model,
        catalogue.waitlisted(world.career_event_id, world.first, booking_id, world.pupil, 2),
    )
    booking = await world.booking(reader, booking_id)
    assert (booking.status, booking.waitlist_position, booking.route) == ("waitlisted", 2, None)
    assert booking.session is not None
    assert booking.session["session_id"] == str(world.first)
    assert await world.booked_count(reader) == 0  # no seat held
    # Leaving the line cancels the request.
    await world.apply(
        read_model, catalogue.booking_cancelled(world.career_event_id, booking_id, world.pupil)
    )
    booking = await world.booking(reader, booking_id)
    assert (booking.status, booking.waitlist_position) == ("cancelled", None)
    await read_model.close()


async def test_a_promotion_books_the_waitlisted_request_once(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    world = World(catalogue, ids, recorder)
    read_model, reader = await world.start(tmp_path)
    booking_id = ids.uid("booking:promoted")
    joined = catalogue.waitlisted(world.career_event_id, world.first, booking_id, world.pupil, 1)
    promoted = catalogue.booked(
        world.career_event_id,
        booking_id,
        world.pupil,
        world.first,
        route=events.BookingRoute.PROMOTED_FROM_WAITLIST,
    )
    attended = catalogue.attended(world.career_event_id, booking_id, world.pupil)
    await world.apply(read_model, joined, promoted)
    booking = await world.booking(reader, booking_id)
    assert (booking.status, booking.waitlist_position) == ("booked", None)
    assert booking.route == "promoted_from_waitlist"
    assert booking.booked_at is not None
    assert await world.booked_count(reader) == 1
    # Attended, then the promotion (or the joining) delivered again: nothing goes back.
    await world.apply(read_model, attended)
    for again in (promoted, joined):
        await apply_in_order(read_model, [recorder.record(again)])
    booking = await world.booking(reader, booking_id)
    assert booking.status == "attended"
    await read_model.close()


async def test_a_no_show_is_missed_not_attended(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    world = World(catalogue, ids, recorder)
    read_model, reader = await world.start(tmp_path)
    booking_id = ids.uid("booking:missed")
    await world.apply(
        read_model,
        catalogue.booked(world.career_event_id, booking_id, world.pupil, world.first),
        events.CareerEventMissed(
            career_event_id=world.career_event_id,
            session_id=world.first,
            booking_id=booking_id,
            participant_id=world.pupil,
        ),
    )
    booking = await world.booking(reader, booking_id)
    assert (booking.status, booking.attended_at) == ("missed", None)
    assert await world.booked_count(reader) == 0
    await read_model.close()


async def test_a_revision_replaces_what_was_stated(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """Online now, one session moved: the booking made after it shows the revised career event;
    the publication delivered again does not undo the revision."""
    world = World(catalogue, ids, recorder)
    read_model, reader = await world.start(tmp_path)
    moved = events.CareerEventSession(
        session_id=world.first, starts_at=_at(20, 9), ends_at=_at(20, 11), capacity=30
    )
    revised = events.CareerEventRevised(
        career_event_id=world.career_event_id,
        title="Оператор беспилотных летательных аппаратов",
        description="Онлайн-занятие: планирование полётного задания.",
        profession="drone_operator",
        environments=(Environment.SMART,),
        level=events.CareerEventLevel.ADVANCED,
        format=events.CareerEventFormat.ONLINE,
        venue=None,
        municipality="Лужский муниципальный район",
        sessions=(moved,),
        eligible_grades=GradeRange(lowest=8, highest=11),
        accommodates=(),
        mentors=(ids.uid("mentor"),),
    )
    booking_id = ids.uid("booking:after-revision")
    republished = catalogue.career_event(world.career_event_id)
    await world.apply(
        read_model,
        revised,
        catalogue.booked(world.career_event_id, booking_id, world.pupil, world.first),
        republished,
    )
    booking = await world.booking(reader, booking_id)
    assert booking.career_event is not None
    info = booking.career_event
    assert (info.title, info.level, info.format, info.venue) == (
        "Оператор беспилотных летательных аппаратов",
        "advanced",
        "online",
        None,
    )
    assert booking.session is not None
    assert booking.session["starts_at"] == "2019-11-20T09:00:00.000000Z"
    await read_model.close()


async def test_mentor_feedback_is_shown_as_its_rubric(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    world = World(catalogue, ids, recorder)
    read_model, reader = await world.start(tmp_path)
    booking_id, feedback_id = ids.uid("booking:feedback"), ids.uid("feedback:rubric")
    await world.apply(
        read_model,
        catalogue.booked(world.career_event_id, booking_id, world.pupil, world.first),
        catalogue.attended(world.career_event_id, booking_id, world.pupil),
        await catalogue.feedback(world.career_event_id, feedback_id, booking_id, world.pupil),
    )
    record = await world.portfolio(reader)
    (feedback,) = record.feedback
    assert (feedback.task_completion, feedback.interest_shown) == ("completed", "high")
    assert feedback.skills_shown == [{"level": Level.PROFICIENT.value, "skill": "teamwork"}]
    assert feedback.sealed_comment is not None
    assert "$enc" in feedback.sealed_comment
    await read_model.close()
