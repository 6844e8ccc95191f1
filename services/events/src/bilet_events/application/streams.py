"""The folds of the career events service's aggregates (`bilet.application.Fold`)."""

from uuid import UUID

from bilet.application import Fold
from bilet_events.domain import career_event, pupil_bookings
from bilet_events.domain.career_event import CareerEvent
from bilet_events.domain.pupil_bookings import Seats


def career_event_of(career_event_id: UUID) -> Fold[CareerEvent]:
    return Fold(
        career_event.stream_id(career_event_id),
        career_event.initial(career_event_id),
        career_event.evolve,
    )


def seats_of(participant_id: UUID) -> Fold[Seats]:
    return Fold(
        pupil_bookings.stream_id(participant_id),
        pupil_bookings.initial(participant_id),
        pupil_bookings.evolve,
    )
