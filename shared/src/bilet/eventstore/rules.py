"""The append rules every adapter applies the same way: expectations and idempotent retries."""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from bilet.eventstore.errors import EventIdsConflict, WrongExpectedVersion
from bilet.eventstore.model import ExpectedVersion, StreamAppend, StreamState


def check_expected_version(stream_id: str, expected: ExpectedVersion, actual: int | None) -> None:
    """Raise `WrongExpectedVersion` unless a stream at `actual` (None: absent) meets `expected`."""
    if expected is StreamState.ANY:
        return
    if expected is StreamState.NO_STREAM:
        ok = actual is None
    elif expected is StreamState.STREAM_EXISTS:
        ok = actual is not None
    else:
        ok = actual == expected
    if not ok:
        raise WrongExpectedVersion(stream_id, expected, actual)


@dataclass(frozen=True, slots=True)
class StoredId:
    """Where an already stored event id lives."""

    stream_id: str
    version: int
    position: int


def check_append(appends: Sequence[StreamAppend]) -> None:
    """An append names at least one stream, each once and with events, and no event id twice."""
    if not appends or any(not append.events for append in appends):
        raise ValueError("an append with no events")
    if len({append.stream_id for append in appends}) != len(appends):
        raise ValueError("a stream appears twice in one append")
    ids = [event.event_id for append in appends for event in append.events]
    if len(ids) != len(set(ids)):
        raise EventIdsConflict("an append carries the same event id more than once")


def is_identical_retry(append: StreamAppend, stored: Sequence[StoredId | None]) -> bool:
    """True when every event of `append` is stored, in its stream, at consecutive versions.

    `stored` gives, for each event of the append in order, where its id is stored (None: not).
    Raises `EventIdsConflict` when some ids are stored but not as exactly this append.
    """
    if all(s is None for s in stored):
        return False
    found = [s for s in stored if s is not None]
    consecutive = all(b.version == a.version + 1 for a, b in itertools.pairwise(found))
    if (
        len(found) == len(stored)
        and consecutive
        and {s.stream_id for s in found} == {append.stream_id}
    ):
        return True
    raise EventIdsConflict(
        f"stream {append.stream_id!r}: some event ids of this append are already stored, "
        "but not as this same append to this stream"
    )
