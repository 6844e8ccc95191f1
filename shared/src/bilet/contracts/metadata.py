"""What travels with every stored event besides its data: the envelope's metadata.

Stored as the event's JSON `metadata`; on Kafka each key maps to a CloudEvents attribute (see
`bilet.contracts.cloudevents`). Nothing here may be personal data: the actor is an opaque account
id and a role, never a name.
"""

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

# The JSON keys in the stored metadata, and the CloudEvents extension attribute each maps to
# (CloudEvents extension names: lower-case letters and digits, at most 20 characters).
SCHEMA_VERSION: Final = "schema_version"
CORRELATION_ID: Final = "correlation_id"
CAUSATION_ID: Final = "causation_id"
ACTOR: Final = "actor"
ACTOR_ROLE: Final = "actor_role"
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"


class EventMetadata(BaseModel):
    """The metadata every event carries. Unknown keys are kept, so newer writers do not lose
    information when an older reader passes an event on."""

    model_config = ConfigDict(frozen=True, extra="allow")

    schema_version: int = Field(default=1, ge=1)
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None
    actor_role: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "EventMetadata":
        return cls.model_validate_json(raw or b"{}")
