"""Kafka record → `RecordedEvent`, fast: the consumer's hot path.

`bilet.contracts.cloudevents.from_record` is the definition; `decode` builds the very same event
in about a third of the time (one dict of the headers, the metadata JSON assembled from its
CloudEvents extension attributes in the contract's own order and escaping). Anything it does not
expect — a missing or malformed attribute, another spec version — goes to `from_record`, whose
answer (or `NotACloudEvent`) is final. `shared/tests/projections/test_decode.py` checks that both
agree on many generated records.

`decoder_for(fields)` decodes only some fields (ADR 0067): those a projection declares it reads
(`Projection.event_fields`) and the runtime's own (`RUNTIME_FIELDS`). It still refuses, exactly
as `decode` does, a record without every attribute the contract requires or of another spec
version, and any record whose decoded attributes are malformed; the attributes it does not decode
are not parsed, so their format goes unchecked. The event it builds is a `RecordedEvent` whose
undecoded fields hold None and raise `UndeclaredEventField` when read: a projection that reads
more than it declares fails loudly (and is dead-lettered), never on a made-up value.
"""

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Final, cast
from uuid import UUID

from bilet.contracts import cloudevents
from bilet.contracts import metadata as keys
from bilet.eventstore import RecordedEvent

_SPEC_VERSION: Final = cloudevents.SPEC_VERSION.encode()
_quote = json.encoder.encode_basestring_ascii

# (header, JSON key prefix, is an integer), in the order `from_record` writes the metadata.
_METADATA: Final = tuple(
    (f"ce_{attribute}", f"{_quote(key)}:", key == keys.SCHEMA_VERSION)
    for key, attribute in cloudevents._EXTENSIONS.items()
)

EVENT_FIELDS: Final[frozenset[str]] = frozenset(RecordedEvent._fields)
# What the projection runtime itself reads of every event: dedupe, gaps, checkpoints' positions.
RUNTIME_FIELDS: Final = frozenset({"stream_id", "version", "position"})
# The attributes every record must carry, decoded or not (`from_record` refuses it otherwise).
_REQUIRED: Final = frozenset(
    ("ce_id", "ce_type", "ce_subject", "ce_time", "ce_streamversion", "ce_position")
)

_PARTIAL_DOC: Final = "A `RecordedEvent` decoded in part: reading an undecoded field raises."

Decoder = Callable[[bytes | None, Sequence[tuple[str, bytes]]], RecordedEvent]


class UndeclaredEventField(AttributeError):
    """A projection read a field of an event that it did not declare in `event_fields`, so the
    feed did not decode it."""


def _metadata(attributes: dict[str, bytes]) -> bytes:
    parts = []
    for header, prefix, is_integer in _METADATA:
        raw = attributes.get(header)
        if raw is not None:
            text = raw.decode()
            parts.append(prefix + (str(int(text)) if is_integer else _quote(text)))
    return ("{" + ",".join(parts) + "}").encode()


def decode(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> RecordedEvent:
    """The `RecordedEvent` a Kafka record carries; raises `NotACloudEvent` as `from_record` does."""
    attributes = dict(headers)
    try:
        if attributes["ce_specversion"] != _SPEC_VERSION:
            raise ValueError
        return RecordedEvent(
            attributes["ce_subject"].decode(),
            int(attributes["ce_streamversion"].decode()),
            int(attributes["ce_position"].decode()),
            UUID(attributes["ce_id"].decode()),
            attributes["ce_type"].decode(),
            value or b"",
            _metadata(attributes),
            datetime.fromisoformat(attributes["ce_time"].decode()),
        )
    except (KeyError, ValueError, AttributeError, TypeError):
        return cloudevents.from_record(value, headers).event


def _undeclared(name: str) -> property:
    def read(_event: RecordedEvent) -> Any:
        raise UndeclaredEventField(
            f"the event's {name!r} was not decoded: add it to the projection's event_fields"
        )

    return property(read, doc=f"Not decoded: reading it raises `UndeclaredEventField` ({name}).")


@cache
def _partial_event(undecoded: frozenset[str]) -> type[RecordedEvent]:
    """A `RecordedEvent` subclass whose `undecoded` fields raise when read. Its tuple holds None
    in their places, so equality, `_replace` and `_asdict` agree with what was decoded."""
    name = "RecordedEventWithout_" + "_".join(sorted(undecoded))
    body: dict[str, Any] = {"__slots__": (), "__doc__": _PARTIAL_DOC}
    body.update({field: _undeclared(field) for field in undecoded})
    return cast(type[RecordedEvent], type(name, (RecordedEvent,), body))


def decoder_for(fields: Collection[str] | None) -> Decoder:
    """The decoder of a projection that reads `fields` of its events (None: every field)."""
    if fields is None:
        return decode
    if unknown := set(fields) - EVENT_FIELDS:
        raise ValueError(f"event_fields names no field of RecordedEvent: {sorted(unknown)}")
    wanted = RUNTIME_FIELDS | frozenset(fields)
    if wanted == EVENT_FIELDS:
        return decode
    kind = _partial_event(EVENT_FIELDS - wanted)
    want_id, want_type, want_data = "event_id" in wanted, "type" in wanted, "data" in wanted
    want_metadata, want_time = "metadata" in wanted, "recorded_at" in wanted
    make = tuple.__new__

    def decode_declared(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> RecordedEvent:
        attributes = dict(headers)
        try:
            if attributes["ce_specversion"] != _SPEC_VERSION:
                raise ValueError
            if not attributes.keys() >= _REQUIRED:  # one C-level test, not a loop of six
                raise KeyError(min(_REQUIRED - attributes.keys()))
            # tuple.__new__: the partial class without the named tuple's Python-level __new__.
            return make(
                kind,
                (
                    attributes["ce_subject"].decode(),
                    int(attributes["ce_streamversion"].decode()),
                    int(attributes["ce_position"].decode()),
                    UUID(attributes["ce_id"].decode()) if want_id else None,
                    attributes["ce_type"].decode() if want_type else None,
                    (value or b"") if want_data else None,
                    _metadata(attributes) if want_metadata else None,
                    datetime.fromisoformat(attributes["ce_time"].decode()) if want_time else None,
                ),
            )
        except (KeyError, ValueError, AttributeError, TypeError):
            return cloudevents.from_record(value, headers).event

    return decode_declared
