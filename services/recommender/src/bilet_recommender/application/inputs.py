"""What the recommender's use cases take and answer."""

from dataclasses import dataclass
from uuid import UUID

from bilet.application import Outcome, RequestContext

# Who asks, the correlation id of their request, and the position tokens it carried.
QueryContext = RequestContext
CommandContext = RequestContext


@dataclass(frozen=True)
class Committed:
    """A command's answer: what it is about and the read-your-writes position."""

    id: UUID
    position: int

    @classmethod
    def of(cls, outcome: Outcome[object], id: UUID) -> "Committed":
        return cls(id, outcome.position)
