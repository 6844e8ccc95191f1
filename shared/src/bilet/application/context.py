"""Who asks: the principal of a request, its correlation id and the position tokens it carried,
and what a use case writes on their behalf (event metadata, audit records)."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from bilet.audit import Access, AuditRecord
from bilet.contracts import EventMetadata
from bilet.http.auth import Principal
from bilet.http.consistency import PositionToken


@dataclass(frozen=True)
class RequestContext:
    """Who asks, the correlation id of their request, and the position tokens (`BVB-Position`)
    it carried, for a use case that waits for another service's writes."""

    principal: Principal
    correlation_id: str | None = None
    tokens: tuple[PositionToken, ...] = ()

    def metadata(self) -> EventMetadata:
        """The metadata of the events a command appends: who, and which request."""
        return EventMetadata(
            correlation_id=self.correlation_id,
            actor=self.principal.subject,
            actor_role=self.principal.role.value,
        )

    def audit(
        self, access: Access, subject: UUID | str, purpose: str, fields: Sequence[str]
    ) -> AuditRecord:
        """The audit record of this caller's `access` to `fields` of `subject`'s personal data
        (ids and field names only)."""
        return AuditRecord(
            actor=self.principal.subject,
            actor_role=self.principal.role.value,
            access=access,
            subject=str(subject),
            purpose=purpose,
            fields=tuple(fields),
            correlation_id=self.correlation_id,
        )
