"""The base of every published event: a frozen pydantic model with a stable type name and version.

The class says what the event *is* (`event_type`, `schema_version`), who publishes it (`service`)
and on which stream it is appended (`stream_category` + the value of its `stream_key` field), so
the stream id, and with it the Kafka key and the per-aggregate order, is part of the contract.
"""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class ContractModel(BaseModel):
    """A value inside a published event: immutable, and nothing but its declared fields.

    Strict: a producer's `"7"` is not a grade. JSON input still accepts the JSON forms of UUIDs,
    dates and enum members (there is no other way to write them in JSON).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class DomainEvent(ContractModel):
    """A fact a service publishes: what happened, in the business's words, with no readable
    personal data (personal fields are `Sealed`, see `bilet.contracts.sealed`).

    Subclasses set the class variables; `bilet.contracts.registry.published` checks and
    registers them. The envelope (event id, stream version, position, time, correlation,
    causation, actor, trace) is not part of the event: it travels in `EventMetadata` and in the
    store's record.
    """

    # Stable, never renamed: the `type` in the store and `ce_type` on Kafka.
    event_type: ClassVar[str]
    # Bumped by adding a new class, never by editing a published one (docs/adr/0006).
    schema_version: ClassVar[int] = 1
    # The producing service; its topic is `bilet.<service>`.
    service: ClassVar[str]
    # The stream the event is appended to is `<stream_category>-<value of stream_key>`.
    stream_category: ClassVar[str]
    stream_key: ClassVar[str]
    # Whose data key seals this event's personal fields (a field holding a participant id).
    subject_key: ClassVar[str] = "participant_id"

    @property
    def stream_id(self) -> str:
        """The stream this event belongs to, e.g. `participant-3f0c5e0a-…`; the Kafka key."""
        return f"{self.stream_category}-{getattr(self, self.stream_key)}"

    @property
    def subject(self) -> str:
        """The crypto-shredding subject of the event's sealed fields (an opaque participant id)."""
        return str(getattr(self, self.subject_key))
