"""Pupils book and give up seats.

A booking reads the career event and the participant's seats and, when it gets a seat, appends
`SeatBooked` to the one and `SeatHeld` to the other in one commit, each at the version read: the
session's capacity and the participant's season maximum and no-overlap are exact under any
concurrency (a faster writer makes the commit fail and the decision is taken again). A released
seat is given, in the same commit, to the first waiting participant still able to take it: a
verified consent covering career events, still of the region and grades, their accessibility
needs accommodated, within their season's maximum, not overlapping.

The pupil's accessibility needs are opened (and the access audited) only while a consent covers
`health_data` (`accessibility.py`); a refusal names the missing accommodations only to the pupil
and their school's registrar, who may see health data; the navigator gets the bare refusal.
"""

from typing import Final
from uuid import UUID

from bilet.application import Attempt
from bilet.audit import Access
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import SeatBooked, WaitlistJoined
from bilet.http.auth import Role
from bilet_events.application import access
from bilet_events.application.accessibility import FIELD, Needs, open_needs, summary_for
from bilet_events.application.base import EventsCore
from bilet_events.application.errors import (
    ConsentRequired,
    ParticipantMerged,
    SeasonUnknown,
    UnknownParticipant,
)
from bilet_events.application.facts import Pupil
from bilet_events.application.inputs import BookingAnswer, CommandContext, Committed
from bilet_events.application.streams import seats_of
from bilet_events.domain import career_event, pupil_bookings
from bilet_events.domain.career_event import Booking, CareerEvent, Summary
from bilet_events.domain.errors import DomainError, NotAccessible, UnknownBooking

# Who may be told which accommodations a refused pupil needs (health data, ADR 0019).
SEE_HEALTH_DATA: Final = (Role.PUPIL, Role.REGISTRAR)
# Why a booking opened the pupil's needs: theirs, or a waiting pupil's for a released seat.
BOOKING: Final = "career_event_booking"
PROMOTION: Final = "career_event_promotion"

Promotion = tuple[list[pupil_bookings.SeatsEvent], Summary | None]


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
        if pupil.merged_into is not None:
            raise ParticipantMerged(pupil.merged_into)
        if not pupil.consents_to(Purpose.CAREER_EVENTS):
            raise ConsentRequired()
        needs = await self._needs(ctx, pupil, BOOKING)
        summary = await summary_for(self.cipher, pupil, needs)

        async def body(attempt: Attempt) -> SeatBooked | WaitlistJoined:
            state = await self.published(attempt, career_event_id)
            command = career_event.Book(
                session_id,
                booking_id,
                participant_id,
                pupil.region_id,
                pupil.grade,
                self.clock(),
                needs.needs,
                summary,
            )
            try:
                [decided] = career_event.decide(command, state)
            except NotAccessible as refused:
                if ctx.principal.role in SEE_HEALTH_DATA:
                    raise
                raise refused.without_details() from None
            assert isinstance(decided, SeatBooked | WaitlistJoined)
            hold = await self._hold(attempt, state, Booking(booking_id, participant_id, session_id))
            attempt.append(career_event.stream_id(career_event_id), [decided])
            if isinstance(decided, SeatBooked):
                attempt.append(pupil_bookings.stream_id(participant_id), hold)
            return decided

        key, seats = career_event.stream_id(career_event_id), seats_of(participant_id).stream_id
        outcome = await self.transactor.transact_combined(ctx, key, body, reads=[seats])
        place = outcome.value.position if isinstance(outcome.value, WaitlistJoined) else None
        return BookingAnswer(booking_id, place, outcome.position, needs.checked)

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
            promotable: dict[UUID, Promotion] = {}
            if holds_seat:
                for waiting in state.sessions[booking.session_id].waiting:
                    promotion = await self._promotion(ctx, attempt, state, waiting)
                    if promotion is not None:
                        promotable[waiting.booking_id] = promotion
                        break  # the first able to take the seat gets it
            summaries = {waiting: summary for waiting, (_, summary) in promotable.items()}
            command = career_event.CancelBooking(
                booking_id, self.clock(), self.cancellation_notice, summaries
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
                    attempt.append(stream, promotable[promoted.booking_id][0])

        outcome = await self.transactor.transact_many(ctx, body)
        return Committed.of(outcome, booking_id)

    async def _needs(self, ctx: CommandContext, pupil: Pupil, purpose: str) -> Needs:
        """The pupil's needs as the booking may act on them; opening them is audited."""
        needs = await open_needs(self.cipher, pupil)
        if needs.checked and pupil.accessibility_needs is not None:
            audit = ctx.audit(Access.READ, pupil.participant_id, purpose, [FIELD])
            await self.audit.record(audit)
        return needs

    async def _promotion(
        self, ctx: CommandContext, attempt: Attempt, state: CareerEvent, waiting: Booking
    ) -> Promotion | None:
        """The hold and summary of a waiting participant able to take the released seat, else
        None: no consent covering career events any more, moved to another region or grade,
        needs the career event does not accommodate, at their season's maximum or busy then."""
        assert state.published is not None
        pupil = await self.facts.pupil(waiting.participant_id, self.clock().date())
        if pupil is None or not pupil.consents_to(Purpose.CAREER_EVENTS):
            return None
        needs = await self._needs(ctx, pupil, PROMOTION)
        try:
            career_event.check_suits(state.published, pupil.region_id, pupil.grade, needs.needs)
            hold = await self._hold(attempt, state, waiting)
        except DomainError:
            return None
        return hold, await summary_for(self.cipher, pupil, needs)

    async def _hold(
        self, attempt: Attempt, state: CareerEvent, booking: Booking
    ) -> list[pupil_bookings.SeatsEvent]:
        """The hold of a seat in the participant's record (read at its version), or the refusal
        (season maximum, overlap)."""
        assert state.published is not None
        maximum = await self.season_maximum(state.published.season)
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
