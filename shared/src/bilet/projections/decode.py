"""Kafka record → `RecordedEvent`, fast: the consumer's hot path.

`bilet.contracts.cloudevents.from_record` is the definition; `decode` builds the very same event
in a fraction of the time. Anything it does not expect — a missing or malformed attribute,
another spec version — goes to `from_record`, whose answer (or `NotACloudEvent`) is final.
`shared/tests/projections/test_decode.py` checks that both agree on many generated records.

No dict of the headers is built per record (ADR 0082): the records of a topic carry their
headers in a few orders only (`to_record` writes them in one, less the extension attributes an
event has not), so where each attribute sits is worked out once per order of header names
(`_layout_of`, the last of equal names winning, as in a dict of them) and each record is read by
position. A decoder remembers the last order it saw and compares the next record's names with
it, string by string (no hashing); another order is looked up in a small cache.

`decoder_for(fields)` decodes only some fields (ADR 0067): those a projection declares it reads
(`Projection.event_fields`) and the runtime's own (`RUNTIME_FIELDS`). It still refuses, exactly
as `decode` does, a record without every attribute the contract requires or of another spec
version, and any record whose decoded attributes are malformed; the attributes it does not decode
are not parsed, so their format goes unchecked. The event it builds is a `RecordedEvent` whose
undecoded fields hold None and raise `UndeclaredEventField` when read: a projection that reads
more than it declares fails loudly (and is dead-lettered), never on a made-up value.
"""

import json
from collections.abc import Callable, Collection, Hashable, Sequence
from datetime import datetime
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any, Final, NamedTuple, cast
from uuid import UUID

from bilet.contracts import cloudevents
from bilet.contracts import metadata as keys
from bilet.eventstore import RecordedEvent

_SPEC_VERSION: Final = cloudevents.SPEC_VERSION.encode()
_quote = json.encoder.encode_basestring_ascii
_name = itemgetter(0)

# (header, JSON key prefix, is an integer), in the order `from_record` writes the metadata.
_METADATA: Final = tuple(
    (f"ce_{attribute}", f"{_quote(key)}:", key == keys.SCHEMA_VERSION)
    for key, attribute in cloudevents._EXTENSIONS.items()
)

EVENT_FIELDS: Final[frozenset[str]] = frozenset(RecordedEvent._fields)
# What the projection runtime itself reads of every event: dedupe, gaps, checkpoints' positions.
RUNTIME_FIELDS: Final = frozenset({"stream_id", "version", "position"})
# The attributes every record must carry, decoded or not (`from_record` refuses it otherwise).
_REQUIRED: Final = (
    "ce_specversion",
    "ce_subject",
    "ce_streamversion",
    "ce_position",
    "ce_id",
    "ce_type",
    "ce_time",
)

_PARTIAL_DOC: Final = "A `RecordedEvent` decoded in part: reading an undecoded field raises."

Decoder = Callable[[bytes | None, Sequence[tuple[str, bytes]]], RecordedEvent]


class UndeclaredEventField(AttributeError):
    """A projection read a field of an event that it did not declare in `event_fields`, so the
    feed did not decode it."""


class _Layout(NamedTuple):
    """Where a record's attributes sit among its headers (indexes), for one order of names."""

    specversion: int
    subject: int
    streamversion: int
    position: int
    id: int
    type: int
    time: int
    # (JSON key prefix, is an integer, index) of the extension attributes present, in the
    # order `from_record` writes the metadata.
    metadata: tuple[tuple[str, bool, int], ...]


@lru_cache(maxsize=64)  # a topic's records come in a few orders; a foreign one costs a miss
def _layout_of(names: tuple[Hashable, ...]) -> _Layout | None:
    """The layout of records whose header names are `names`; None when one the contract
    requires is missing."""
    index = {name: number for number, name in enumerate(names)}  # the last of equal names wins
    if not all(header in index for header in _REQUIRED):
        return None
    return _Layout(
        specversion=index["ce_specversion"],
        subject=index["ce_subject"],
        streamversion=index["ce_streamversion"],
        position=index["ce_position"],
        id=index["ce_id"],
        type=index["ce_type"],
        time=index["ce_time"],
        metadata=tuple(
            (prefix, is_integer, index[header])
            for header, prefix, is_integer in _METADATA
            if header in index
        ),
    )


def _metadata(headers: Sequence[tuple[str, bytes]], layout: _Layout) -> bytes:
    parts = []
    for prefix, is_integer, at in layout.metadata:
        raw = headers[at][1]
        if raw is None:  # a null header value: `from_record` refuses the record, and so here
            raise ValueError
        parts.append(prefix + (str(int(raw)) if is_integer else _quote(raw.decode())))
    return ("{" + ",".join(parts) + "}").encode()


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


def _decoder(wanted: frozenset[str]) -> Decoder:
    """A decoder of the `wanted` fields (the runtime's among them); the others hold None."""
    kind = RecordedEvent if wanted == EVENT_FIELDS else _partial_event(EVENT_FIELDS - wanted)
    want_id, want_type, want_data = "event_id" in wanted, "type" in wanted, "data" in wanted
    want_metadata, want_time = "metadata" in wanted, "recorded_at" in wanted
    make = tuple.__new__
    # The last order of header names seen, and its layout: one slot, replaced whole.
    last: list[tuple[tuple[Hashable, ...], _Layout | None]] = [((), None)]

    def decode_wanted(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> RecordedEvent:
        try:
            names = tuple(map(_name, headers))
            seen, layout = last[0]
            if names != seen:  # equal strings compared, not hashed
                layout = _layout_of(names)
                last[0] = (names, layout)
            if layout is None:
                raise KeyError
            if headers[layout.specversion][1] != _SPEC_VERSION:
                raise ValueError
            # int() reads the ASCII digits of bytes as of text; anything else it refuses, and
            # from_record below answers. tuple.__new__: no named tuple's Python-level __new__.
            return make(
                kind,
                (
                    headers[layout.subject][1].decode(),
                    int(headers[layout.streamversion][1]),
                    int(headers[layout.position][1]),
                    UUID(headers[layout.id][1].decode()) if want_id else None,
                    headers[layout.type][1].decode() if want_type else None,
                    (value or b"") if want_data else None,
                    _metadata(headers, layout) if want_metadata else None,
                    datetime.fromisoformat(headers[layout.time][1].decode()) if want_time else None,
                ),
            )
        except (KeyError, ValueError, AttributeError, TypeError, IndexError):
            return cloudevents.from_record(value, headers).event

    return decode_wanted


# The `RecordedEvent` a Kafka record carries; raises `NotACloudEvent` as `from_record` does.
decode: Final[Decoder] = _decoder(EVENT_FIELDS)


def decoder_for(fields: Collection[str] | None) -> Decoder:
    """The decoder of a projection that reads `fields` of its events (None: every field)."""
    if fields is None:
        return decode
    if unknown := set(fields) - EVENT_FIELDS:
        raise ValueError(f"event_fields names no field of RecordedEvent: {sorted(unknown)}")
    wanted = RUNTIME_FIELDS | frozenset(fields)
    if wanted == EVENT_FIELDS:
        return decode
    return _decoder(wanted)
