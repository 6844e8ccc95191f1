"""How the worker's agents read a published record from Kafka: its type (from the CloudEvents
header, without parsing the value), the participant it is about (the key the worker repartitions
by) and its headers in the form the kernel's decoder takes; and how a batch step tells faust which
record it is handling. One module, so the insights agent does not reach into the worker for them."""

import contextlib
import json
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, Final

from faust.streams import _current_event
from faust.types import EventT

# The repartition key of a record about no participant (a career event, a school).
NO_PARTICIPANT: Final = "-"
# The CloudEvents header naming a record's event type (`bilet.contracts.cloudevents`).
TYPE_HEADER: Final = "ce_type"


def participant_key(value: bytes) -> str:
    """The participant a published record is about (the repartition key); `NO_PARTICIPANT`
    for the others."""
    try:
        data = json.loads(value)
    except ValueError:
        return NO_PARTICIPANT
    found = data.get("participant_id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else NO_PARTICIPANT


def record_headers(raw: Any) -> Sequence[tuple[str, bytes]]:
    """A record's headers as pairs, whether faust hands them over as a mapping or a list."""
    return list(raw.items()) if isinstance(raw, dict) else list(raw or ())


def record_type(raw_headers: Any) -> str | None:
    """The event type a record's headers name (None without one: not a record of ours). The
    repartition reads only this, so the records no agent takes are never parsed nor forwarded."""
    for name, value in record_headers(raw_headers):
        if name == TYPE_HEADER:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def key_text(key: Any) -> str:
    """A repartitioned record's key (the participant id, raw bytes on the topic) as text."""
    return key.decode() if isinstance(key, bytes) else str(key)


@contextlib.contextmanager
def processing(event: EventT[Any]) -> Iterator[None]:
    """Within it, faust takes `event` for the one being processed (a table's change goes to its
    partition of the changelog): a batch is handled outside faust's per-event iteration."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
