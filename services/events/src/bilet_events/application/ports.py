"""What the career events service needs to know from other services, as a port: the
participant's facts (identity's and consent's, kept here as a read model) and the season's
rules. The read model that implements it is `bilet_events.adapters.facts`; tests use
`bilet_events.testing.StaticFacts`."""

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Pupil:
    """A participant as the booking rules see them today: no personal data beyond ids."""

    participant_id: UUID
    school_id: UUID
    region_id: UUID
    grade: int
    season: int
    consent_purposes: frozenset[str]  # the purposes a verified consent in force covers


class Facts(Protocol):
    async def pupil(self, participant_id: UUID) -> Pupil | None:
        """The participant today, or None when unknown (or erased)."""
        ...

    async def max_career_events(self, season: int) -> int | None:
        """The season's maximum of career events per participant, None when the season is not
        known."""
        ...
