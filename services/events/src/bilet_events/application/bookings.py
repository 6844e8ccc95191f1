"""Pupils book and give up seats.

A booking reads the career event and the participant's seats and, when it gets a seat, appends
`SeatBooked` to the one and `SeatHeld` to the other in one commit, each at the version read: the
session's capacity and the participant's season maximum and no-overlap are exact under any
concurrency (a faster writer makes the commit fail and the decision is taken again). A released
seat is given, in the same commit, to the first waiting participant still able to take it."""

from uuid import UUID

from bilet.application import Attempt
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import SeatBooked, WaitlistJoined
from bilet_events.application import access
from bilet_events.application.base import EventsCore
from bilet_events.application.errors import ConsentRequired, SeasonUnknown, UnknownParticipant
from bilet_events.application.inputs import BookingAnswer, CommandContext, Committed
from bilet_events.application.streams import seats_of
from bilet_events.domain import career_event, pupil_bookings
from bilet_events.domain.career_event import Booking, CareerEvent
from bilet_events.domain.errors import DomainError, UnknownBooking


class Bookings(EventsCore):
    async def book(
        self,
        ctx: CommandContext,
        career_event_id: UUID,
        session_id: UUID,
        participant_id: UUID,
        booking_id: UUID,
    ) -> BookingAnswer:
        """Book a seat of a session (the pupil, or their school's registrar or navigator); a
        full session puts the participant in its line."""
        access.require(ctx.principal, *access.BOOKERS)
        pupil = await self.pupil(ctx, participant_id)
        if Purpose.CAREER_EVENTS.value not in pupil.consent_purposes:
            raise ConsentRequired()

        async def body(attempt: Attempt) -> SeatBooked | WaitlistJoined:
            state = await self.published(attempt, career_event_id)
            command = career_event.Book(
                session_id, booking_id, participant_id, pupil.region_id, pupil.grade, self.clock()
            )
            [decided] = career_event.decide(command, state)
            assert isinstance(decided, SeatBooked | WaitlistJoined)
            hold = await self._hold(attempt, state, Booking(booking_id, participant_id, session_id))
            attempt.append(career_event.stream_id(career_event_id), [decided])
            if isinstance(decided, SeatBooked):
                attempt.append(pupil_bookings.stream_id(participant_id), hold)
            return decided

        outcome = await self.transactor.transact_many(ctx, body)
        place = outcome.value.position if isinstance(outcome.value, WaitlistJoined) else None
        return BookingAnswer(booking_id, place, outcome.position)

    async def cancel_booking(
        self, ctx: CommandContext, career_event_id: UUID, booking_id: UUID
    ) -> Committed:
        """Give up a seat or a place in line (the pupil, or their school's registrar or
        navigator), up to the configured notice before the session starts."""
        access.require(ctx.principal, *access.BOOKERS)

        async def body(attempt: Attempt) -> None:
            state = await self.published(attempt, career_event_id)
            found = state.booking(booking_id)
            if found is None:
                raise UnknownBooking()
            booking, holds_seat = found
            try:
                await self.pupil(ctx, booking.participant_id)
            except UnknownParticipant:
                raise UnknownBooking() from None  # not the caller's: answered as unknown
            promotable: dict[UUID, list[pupil_bookings.SeatsEvent]] = {}
            if holds_seat:
                for waiting in state.sessions[booking.session_id].waiting:
                    try:
                        promotable[waiting.booking_id] = await self._hold(attempt, state, waiting)
                        break  # the first able to take the seat gets it
                    except DomainError:
                        continue  # at their season's maximum or busy then: the next one
            command = career_event.CancelBooking(
                booking_id, self.clock(), self.cancellation_notice, tuple(promotable)
            )
            decided = career_event.decide(command, state)
            attempt.append(career_event.stream_id(career_event_id), decided)
            if holds_seat:
                seats = await attempt.state(seats_of(booking.participant_id))
                release = pupil_bookings.decide(pupil_bookings.Release(booking_id), seats)
                attempt.append(pupil_bookings.stream_id(booking.participant_id), release)
            for promoted in decided:
                if isinstance(promoted, SeatBooked):
                    stream = pupil_bookings.stream_id(promoted.participant_id)
                    attempt.append(stream, promotable[promoted.booking_id])

        outcome = await self.transactor.transact_many(ctx, body)
        return Committed.of(outcome, booking_id)

    async def _hold(
        self, attempt: Attempt, state: CareerEvent, booking: Booking
    ) -> list[pupil_bookings.SeatsEvent]:
        """The hold of a seat in the participant's record (read at its version), or the refusal
        (season maximum, overlap)."""
        assert state.published is not None
        maximum = await self.facts.max_career_events(state.published.season)
        if maximum is None:
            raise SeasonUnknown(state.published.season)
        session = state.sessions[booking.session_id].details
        seats = await attempt.state(seats_of(booking.participant_id))
        hold = pupil_bookings.Hold(
            booking.booking_id,
            state.career_event_id,
            booking.session_id,
            state.published.season,
            session.starts_at,
            session.ends_at,
            maximum,
        )
        return pupil_bookings.decide(hold, seats)
