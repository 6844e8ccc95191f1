"""Events the deciders decide, before their personal fields are sealed.

Deciders work with plaintext: a rule about a name, a СНИЛС or a passport must see it. But a
store holds only events whose personal fields are `Sealed` (encrypted with the participant's
key), and sealing needs a key store, which is I/O. So a decider returns an event with personal
fields as an `Unsealed` draft: the event's class, its clear fields and the plaintext of its
personal fields. The application seals the plaintext with `FieldCipher` (keyed by the subject,
the participant id) and builds the event with `sealed_with` right before it appends
(`bilet.application.eventlog.seal_all`). Events without personal fields are returned as they are.

Pure (no I/O): domain layers import it. `evolve` folds only real (sealed) events, exactly what is
read back from the store: state never holds personal data, so a decision that needs the current
plaintext (a correction) receives it in its command, decrypted by the application.
"""

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bilet.contracts.base import DomainEvent
from bilet.contracts.sealed import SealedValue, sealed_fields

_E_co = TypeVar("_E_co", bound=DomainEvent, covariant=True)

# An event class's sealed fields never change: looked up once per class, not once per event.
_sealed_fields = functools.cache(sealed_fields)


@dataclass(frozen=True)
class Unsealed(Generic[_E_co]):
    """A decided event whose personal fields are still plaintext (JSON values)."""

    event_class: type[_E_co]
    clear: Mapping[str, Any]
    # Plaintext personal data: never in a repr (reprs end up in logs and tracebacks).
    personal: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        allowed = set(_sealed_fields(self.event_class))
        if unknown := set(self.personal) - allowed:
            raise ValueError(f"not sealed fields of {self.event_class.__name__}: {unknown}")
        if overlap := set(self.personal) & set(self.clear):
            raise ValueError(f"fields both clear and personal: {overlap}")

    @property
    def event_type(self) -> str:
        return self.event_class.event_type

    @property
    def subject(self) -> str:
        """Whose keys seal the personal fields (the participant id: the participant key, and for
        health data the health key, `bilet.contracts.sealed.KeyScope`)."""
        return str(self.clear[self.event_class.subject_key])

    @property
    def stream_id(self) -> str:
        return f"{self.event_class.stream_category}-{self.clear[self.event_class.stream_key]}"

    def sealed_with(self, sealed: Mapping[str, SealedValue]) -> _E_co:
        """The real event, with `sealed` (the personal fields encrypted) in place of plaintext."""
        if set(sealed) != set(self.personal):
            raise ValueError("seal exactly the personal fields that were decided")
        return self.event_class(**self.clear, **sealed)


# What a decider returns: real events, or drafts of events with personal data.
Decided = DomainEvent | Unsealed[DomainEvent]
