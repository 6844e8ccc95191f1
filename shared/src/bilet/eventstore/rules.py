"""The append rules every adapter applies the same way: expectations and idempotent retries."""

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bilet.eventstore.errors import EventIdsConflict, WrongExpectedVersion
from bilet.eventstore.model import AppendResult, ExpectedVersion, StreamAppend, StreamState


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
    if len(appends) == 1 and len(appends[0].events) == 1:
        return  # the commonest append: one stream, one event, nothing to compare
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


Attempt = Callable[[Sequence[StreamAppend]], Awaitable[list[AppendResult]]]
FindStored = Callable[[Sequence[StreamAppend]], Awaitable[list[list[StoredId | None]]]]


async def append_resolving_retries(
    appends: Sequence[StreamAppend],
    attempt: Attempt,
    find_stored: FindStored,
    may_be_a_retry: Callable[[Exception], bool],
) -> list[AppendResult]:
    """Run `attempt` (one all-or-nothing append), looking up stored event ids only when it fails.

    The fast path never reads ids: the database's uniqueness of event ids catches a retry. When an
    attempt fails in a way a retry would (`may_be_a_retry`: a wrong expected version, an id
    already stored), the parts that are identical retries are answered from the store and the
    others are attempted again without them; a failure that involves no retry is re-raised.
    """
    try:
        return await attempt(appends)  # the fast path: the first attempt succeeds
    except Exception as error:
        if not may_be_a_retry(error):
            raise
        # Resolved inside the handler: what it raises keeps the first failure as its context.
        return await resolve_retries(appends, error, attempt, find_stored, may_be_a_retry)


async def resolve_retries(
    appends: Sequence[StreamAppend],
    failure: Exception,
    attempt: Attempt,
    find_stored: FindStored,
    may_be_a_retry: Callable[[Exception], bool],
) -> list[AppendResult]:
    """After `failure` of a first attempt: the identical retries answered from the store, the
    others attempted again without them, until none is left or no part is a retry. Called inside
    the handler of that failure (see `append_resolving_retries`, which an adapter may inline)."""
    pending = list(appends)
    done: dict[int, AppendResult] = {}
    while True:
        stored = await find_stored(pending)
        retried = {}
        for index, (append, found) in enumerate(zip(pending, stored, strict=True)):
            if is_identical_retry(append, found):
                last = found[-1]
                assert last is not None
                retried[index] = AppendResult(append.stream_id, last.version, last.position)
        if not retried:
            raise failure
        for index, result in retried.items():
            done[id(pending[index])] = result
        pending = [a for i, a in enumerate(pending) if i not in retried]
        if not pending:
            break
        try:
            results = await attempt(pending)
        except Exception as error:
            if not may_be_a_retry(error):
                raise
            failure = error
            continue
        for append, result in zip(pending, results, strict=True):
            done[id(append)] = result
        break
    return [done[id(a)] for a in appends]
