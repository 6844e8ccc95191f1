"""Refusals of the career events rules. Each has a stable `code`, the same one the API will
answer in problem+json."""

from bilet.errors import DomainError as RuleRefusal


class DomainError(RuleRefusal):
    """A refusal of the career events service's rules or of its application layer: the
    refusals its API answers as problems."""


class UnknownCareerEvent(DomainError):
    code = "unknown_career_event"
    text = "No such career event is known."


class CareerEventExists(DomainError):
    code = "career_event_exists"
    text = "A career event with this id was published already."


class CareerEventCancelled(DomainError):
    code = "career_event_cancelled"
    text = "The career event was cancelled."


class BookingsExist(DomainError):
    """A career event is revised only before its first booking: pupils booked what it said."""

    code = "bookings_exist"
    text = "The career event has bookings already: it can no longer be revised."


class UnknownSession(DomainError):
    code = "unknown_session"

    def __init__(self, session_id: object) -> None:
        super().__init__("The career event has no such session.", session_id=str(session_id))


class BookingClosed(DomainError):
    code = "booking_closed"

    def __init__(self, until: object) -> None:
        super().__init__("Bookings of this session are closed.", closed_at=str(until))


class NotEligible(DomainError):
    code = "not_eligible"

    def __init__(self, why: str) -> None:
        super().__init__(f"The participant may not book this career event: {why}.", reason=why)


class AlreadyBooked(DomainError):
    code = "already_booked"

    def __init__(self, booking_id: object) -> None:
        super().__init__(
            "The participant has a seat or a place in the line of this career event already.",
            booking_id=str(booking_id),
        )


class UnknownBooking(DomainError):
    code = "unknown_booking"
    text = "No such booking is known for this career event."


class SessionNotStarted(DomainError):
    code = "session_not_started"

    def __init__(self, starts_at: object) -> None:
        super().__init__(
            "Attendance is recorded once the session has started.", starts_at=str(starts_at)
        )


class AttendanceRecorded(DomainError):
    code = "attendance_recorded"
    text = "The attendance of this booking is recorded already."


class SeasonLimitReached(DomainError):
    code = "season_limit_reached"

    def __init__(self, season: int, maximum: int) -> None:
        super().__init__(
            f"The participant has {maximum} career event(s) in the season {season} already: "
            "the season's maximum.",
            season=season,
            maximum=maximum,
        )


class OverlappingBooking(DomainError):
    code = "overlapping_booking"

    def __init__(self, booking_id: object) -> None:
        super().__init__(
            "The participant has a booking at the same time.", overlapping=str(booking_id)
        )


class NotAccessible(DomainError):
    """The career event does not provide an accommodation the participant needs. `missing`
    names them only for callers allowed to see health data (the pupil, their school's
    registrar); others get the bare refusal (`without_details`)."""

    code = "not_accessible"

    def __init__(self, missing: tuple[str, ...] | None = None) -> None:
        if missing is None:
            super().__init__(
                "The career event does not provide an accommodation the participant needs."
            )
        else:
            super().__init__(
                "The career event does not provide accommodations the participant needs: "
                f"{', '.join(missing)}.",
                missing=list(missing),
            )

    def without_details(self) -> "NotAccessible":
        return NotAccessible()


class NotAttended(DomainError):
    code = "not_attended"
    text = "Feedback is given only for a booking whose attendance was recorded."


class FeedbackGiven(DomainError):
    code = "feedback_given"
    text = "Feedback on this booking was given already."
