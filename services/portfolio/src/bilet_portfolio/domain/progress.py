"""How far a participant has come in their current season: what navigators filter and sort by.

Counts are of the participant's current season only (a pupil enrolled in a new school year starts
again); the read model keeps them on the participant's row so a school's list filters in SQL.
"""

from dataclasses import dataclass
from enum import StrEnum


class ProgressFilter(StrEnum):
    """Filters of a school's list by progress (`?progress=`)."""

    NO_DIAGNOSTICS = "no_diagnostics"  # no stage completed yet
    DIAGNOSTICS_INCOMPLETE = "diagnostics_incomplete"  # some, not all, of the season's stages
    DIAGNOSTICS_COMPLETE = "diagnostics_complete"  # every stage of the season completed
    NO_CAREER_EVENT = "no_career_event"  # attended no career event yet
    CAREER_EVENT_BOOKED = "career_event_booked"  # holds a booking not yet attended
    CAREER_EVENT_ATTENDED = "career_event_attended"  # attended at least one
    RECOMMENDATIONS_ISSUED = "recommendations_issued"


@dataclass(frozen=True, slots=True)
class Progress:
    stages_completed: int
    stages_total: int  # the season rules' stages (3 unless the rules say otherwise)
    career_events_booked: int  # bookings neither cancelled nor attended
    career_events_attended: int
    max_career_events: int | None  # the season rules' limit, when the rules are known
    recommendations: bool

    @property
    def diagnostics_complete(self) -> bool:
        return self.stages_total > 0 and self.stages_completed >= self.stages_total
