"""Organisers publish, revise and cancel career events: publishing is one new stream; a revision
replaces the details before the first booking; cancelling releases every seat, each
participant's hold in the same commit."""

from uuid import UUID

from bilet.application import Attempt
from bilet.contracts.catalogue.events import (
    BookingCancelled,
    CareerEventCancellationReason,
    CareerEventPublished,
    CareerEventRevised,
)
from bilet.http.auth import Role
from bilet_events.application import access
from bilet_events.application.base import EventsCore
from bilet_events.application.errors import AccessDenied
from bilet_events.application.inputs import CommandContext, Committed
from bilet_events.application.streams import career_event_of, seats_of
from bilet_events.domain import career_event, pupil_bookings
from bilet_events.domain.career_event import CareerEvent
from bilet_events.domain.errors import UnknownCareerEvent


class Publishing(EventsCore):
    async def publish(self, ctx: CommandContext, event: CareerEventPublished) -> Committed:
        """Publish a career event: an organiser for their venue, a coordinator in their
        region."""
        access.require(ctx.principal, *access.PUBLISHERS)
        if ctx.principal.role is Role.ORGANISER and not access.organises(
            ctx.principal, event.organiser_id
        ):
            raise AccessDenied("An organiser publishes for their own venue.")
        if not access.in_region(ctx.principal, event.region_id):
            raise AccessDenied("A coordinator publishes in their own region.")
        fold = career_event_of(event.career_event_id)

        outcome = await self.transactor.transact(
            ctx, fold, lambda state: career_event.decide(career_event.Publish(event), state)
        )
        return Committed.of(outcome, event.career_event_id)

    async def revise(self, ctx: CommandContext, event: CareerEventRevised) -> Committed:
        """Replace every stated detail of a career event before its first booking (its
        organiser, or the coordinator of its region; anyone else finds no such career
        event)."""
        access.require(ctx.principal, *access.PUBLISHERS)

        async def body(attempt: Attempt) -> None:
            state = await self._managed(ctx, attempt, event.career_event_id)
            decided = career_event.decide(career_event.Revise(event), state)
            attempt.append(career_event.stream_id(event.career_event_id), decided)

        outcome = await self.transactor.transact_many(ctx, body)
        return Committed.of(outcome, event.career_event_id)

    async def cancel_career_event(
        self, ctx: CommandContext, career_event_id: UUID, reason: CareerEventCancellationReason
    ) -> Committed:
        """Cancel a career event (its organiser, or the coordinator of its region): every seat
        and place in line is released, and the seats' holds with them."""
        access.require(ctx.principal, *access.PUBLISHERS)

        async def body(attempt: Attempt) -> None:
            state = await self._managed(ctx, attempt, career_event_id)
            decided = career_event.decide(career_event.Cancel(reason), state)
            attempt.append(career_event.stream_id(career_event_id), decided)
            for released in decided:
                if isinstance(released, BookingCancelled):
                    seats = await attempt.state(seats_of(released.participant_id))
                    release = pupil_bookings.Release(released.booking_id)
                    attempt.append(
                        pupil_bookings.stream_id(released.participant_id),
                        pupil_bookings.decide(release, seats),
                    )

        outcome = await self.transactor.transact_many(ctx, body)
        return Committed.of(outcome, career_event_id)

    async def _managed(
        self, ctx: CommandContext, attempt: Attempt, career_event_id: UUID
    ) -> CareerEvent:
        """The career event, when it is the caller's to manage; else unknown."""
        state = await self.published(attempt, career_event_id)
        assert state.published is not None
        if not access.manages(ctx.principal, state.published):
            raise UnknownCareerEvent()
        return state
