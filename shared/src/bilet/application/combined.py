"""Combined commits: commands of one process that decide on the same stream, run one after
another inside ONE attempt and committed in ONE atomic append.

Optimistic concurrency alone makes N commands racing on one stream (pupils booking the seats of
one career event) commit one per round: each round all of them read, decide and append at the
version they read, one wins, N - 1 start again. Here the commands that share a key (the stream
they all decide on) queue in-process; a runner takes up to `MAX_BATCH` of them and runs their
bodies in arrival order on one `StagedAttempt` each, where every read sees the store (read once
for the batch) plus what the bodies before it decided. A body that raises is dropped alone (what
it decided is never staged) and gets its error; the others' decisions are appended together, each
event with its own request's metadata, at the versions the batch read. When the store refuses
that append (another process, or a command outside the queue, wrote first), the whole batch runs
again from scratch. Every answer, a refusal too, is given only once the batch committed: a body
may have decided on what an earlier body of the batch staged.

The queue is an optimisation, not a lock: correctness comes only from the store's expected
versions, so several processes (each with its own queue) stay exact (docs/adr/0035).
"""

import asyncio
import dataclasses
import random
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from bilet.application.context import RequestContext
from bilet.application.eventlog import Loaded, Stream, seal_streams
from bilet.application.transact import Attempt, Fold, Outcome, Transactor
from bilet.audit import AuditLog, AuditRecord
from bilet.contracts import DomainEvent
from bilet.eventstore import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
)

S = TypeVar("S")
T = TypeVar("T")

# Commands per combined commit: enough that hundreds of racers need a handful of commits, few
# enough that the last body of a batch does not wait long behind the others.
MAX_BATCH: Final = 64
# How long one body may run: the bodies after it in the batch wait for it.
BODY_TIMEOUT: Final = 5.0
# Of how many keys the last committed stream is kept, so that a busy key's next batch reads
# only what came after it (a few popular career events at a time; each holds its events).
KNOWN_STREAMS: Final = 64


class Contradiction(Exception):
    """A body expects of a stream what no state before the batch meets together with what the
    batch already expects of it (it named a version the batch's own events moved past)."""


def expectation_before_batch(expected: ExpectedVersion, staged: int) -> ExpectedVersion:
    """A body's expectation of a stream on which `staged` events of earlier bodies of the batch
    lie, as an expectation of the stream before the batch."""
    if staged == 0 or expected is ANY:
        return expected
    if expected is STREAM_EXISTS:
        return ANY  # the batch's own events make it exist
    if not isinstance(expected, int):  # NO_STREAM, yet the batch writes to it
        raise Contradiction
    before = expected - staged
    if before < -1:
        raise Contradiction
    return NO_STREAM if before == -1 else before


def merged_expectation(known: ExpectedVersion | None, new: ExpectedVersion) -> ExpectedVersion:
    """The stricter of two expectations of the same stream before the batch, when both can hold."""
    if known is None or known is ANY:
        return new
    if new is ANY or new == known:
        return known
    if known is STREAM_EXISTS and isinstance(new, int):
        return new
    if new is STREAM_EXISTS and isinstance(known, int):
        return known
    raise Contradiction


@dataclass(eq=False)
class _Request(Generic[T]):
    ctx: RequestContext
    body: Callable[[Attempt], Awaitable[T]]
    future: "asyncio.Future[Outcome[T]]"
    reads: Collection[str] = ()
    tries: int = 0


@dataclass(eq=False)
class _Ran:
    """What one body of a batch did: its attempt and value, or its error; where its events lie
    among the batch's (stream → first index, count)."""

    request: _Request[Any]
    attempt: "StagedAttempt | None" = None
    value: Any = None
    error: Exception | None = None
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)


FoldKey = tuple[str, Callable[[Any, Any], Any]]


@dataclass(frozen=True)
class _Known:
    """A key's stream as the last batch on it left it committed, with its folds' states: the
    next batch reads only what came after (another process's writes) instead of all of it."""

    stream: Stream
    folded: dict[FoldKey, tuple[Any, Any, int]]


class _Staging:
    """One attempt of a batch: the streams as read from the store (once), the events the bodies
    decided so far (sealed and encoded, each with its request's metadata) and what the combined
    append expects of each stream."""

    def __init__(self, transactor: Transactor, known: _Known | None = None) -> None:
        self._transactor = transactor
        self._known = known
        self._stored: dict[str, Stream] = {}
        self._events: dict[str, list[DomainEvent]] = {}
        self._encoded: dict[str, list[NewEvent]] = {}
        self.expected: dict[str, ExpectedVersion] = {}
        # Each fold's state over the first `count` events of its stream's view: a later body
        # folds only the events staged since (the view only ever grows within a batch).
        self._folded: dict[FoldKey, tuple[Any, Any, int]] = {}
        # How many of the key's stream's first events were checked to name no participant
        # forgotten lately: those the last batch kept (any `forget` since drops what it kept).
        self._checked = 0

    def staged(self, stream_id: str) -> int:
        return len(self._events.get(stream_id, ()))

    async def view(self, stream_id: str) -> Stream:
        """The stream as read from the store, with the events staged on it appended."""
        stored = self._stored.get(stream_id)
        if stored is None:
            stored = await self._read(stream_id)
            self._stored[stream_id] = stored
        staged = self._events.get(stream_id)
        if not staged:
            return stored
        version = (-1 if stored.version is None else stored.version) + len(staged)
        return dataclasses.replace(stored, events=(*stored.events, *staged), version=version)

    async def prefetch(self, stream_ids: Iterable[str]) -> None:
        """Read these streams now, side by side (a failed read is left to the body that reads
        it, as if never tried)."""
        wanted = [s for s in dict.fromkeys(stream_ids) if s not in self._stored]
        streams = await asyncio.gather(*(self._read(s) for s in wanted), return_exceptions=True)
        for stream_id, stream in zip(wanted, streams, strict=True):
            if isinstance(stream, Stream):
                self._stored[stream_id] = stream

    async def _read(self, stream_id: str) -> Stream:
        """The stream from the store: what the last batch left committed plus what came after,
        when that is what the store holds from there on; else all of it."""
        store, log = self._transactor.store, self._transactor.log
        known = self._known
        if known is not None and known.stream.stream_id == stream_id:
            after = known.stream.version
            assert after is not None
            records = await store.read_stream(stream_id, after + 1)
            if not records and await store.stream_version(stream_id) == after:
                self._folded.update(known.folded)
                self._checked = len(known.stream.events)
                return known.stream
            if records and records[0].version == after + 1:
                self._folded.update(known.folded)
                self._checked = len(known.stream.events)
                events = (*known.stream.events, *(log.decode(r, stream_id) for r in records))
                return Stream(stream_id, events, records[-1].version, records[-1].position)
        return await log.read(store, stream_id)

    def known(self, key: str, results: dict[str, AppendResult]) -> _Known | None:
        """The key's stream as this batch leaves it committed, for the next batch."""
        stored = self._stored.get(key)
        if stored is None:
            return None
        staged = self._events.get(key, [])
        version, position = stored.version, stored.position
        if staged:
            version, position = results[key].version, results[key].position
        if version is None:
            return None
        events = (*stored.events, *staged)
        # Nothing of a participant forgotten lately (docs/adr/0099): their erasure was learned
        # before this batch read the stream, so no `forget` would take it out.
        if self._transactor.log.names_forgotten(events[self._checked :]):
            return None
        folded = {fold: cached for fold, cached in self._folded.items() if fold[0] == key}
        return _Known(Stream(key, events, version, position), folded)

    def fold(self, fold: Fold[S], stream: Stream) -> S:
        """`fold` over the stream's view, from where an earlier body of the batch left it when
        it started from the same initial state (evolve is pure, states are values)."""
        key = (fold.stream_id, fold.evolve)
        cached = self._folded.get(key)
        state: S = fold.initial
        count = 0
        if cached is not None and cached[0] == fold.initial:
            _, state, count = cached
        for event in stream.events[count:]:
            state = fold.evolve(state, event)
        self._folded[key] = (fold.initial, state, len(stream.events))
        return state

    async def stage(self, ran: _Ran) -> None:
        """Add what a body decided to the batch (raises `Contradiction`, staging nothing, when
        its expectations cannot hold together with the batch's)."""
        assert ran.attempt is not None
        parts = ran.attempt.parts
        expected = dict(self.expected)
        for part in parts:
            before = expectation_before_batch(part.expected, self.staged(part.stream_id))
            expected[part.stream_id] = merged_expectation(expected.get(part.stream_id), before)
        metadata = ran.request.ctx.metadata()
        # All the body's streams in one `seal_many` call, as a commit of its own (docs/adr/0099).
        each = await seal_streams(self._transactor.cipher, [p.decided for p in parts])
        sealed = [(p.stream_id, events) for p, events in zip(parts, each, strict=True)]
        encoded = [
            self._transactor.log.stream_append(stream_id, events, ANY, metadata)
            for stream_id, events in sealed
        ]
        self.expected = expected
        for (stream_id, events), append in zip(sealed, encoded, strict=True):
            ran.spans[stream_id] = (self.staged(stream_id), len(events))
            self._events.setdefault(stream_id, []).extend(events)
            self._encoded.setdefault(stream_id, []).extend(append.events)

    async def commit(self) -> dict[str, AppendResult]:
        """The batch's one append: every staged event, at the versions the batch expects."""
        appends = [
            StreamAppend(stream_id, events, self.expected[stream_id])
            for stream_id, events in self._encoded.items()
        ]
        if not appends:
            return {}
        results = await self._transactor.append_prepared(appends)
        return {result.stream_id: result for result in results}

    def outcome(self, ran: _Ran, results: dict[str, AppendResult]) -> Outcome[Any]:
        """A body's own outcome: the versions its events got; the position of each stream's last
        event of the batch (a reader that reached it sees this body's events too)."""
        assert ran.attempt is not None
        own = []
        for stream_id, (first, count) in ran.spans.items():
            result = results[stream_id]
            version = result.version - self.staged(stream_id) + first + count
            own.append(AppendResult(stream_id, version, result.position))
        outcome = ran.attempt.outcome(ran.value, own)
        # A body that read what earlier bodies staged answered on it: its position is theirs.
        log = self._transactor.log
        seen = [
            results[s].position
            for s in ran.attempt.staged_reads
            if s in results and log.is_published(s)
        ]
        if seen and max(seen) > outcome.position:
            outcome = dataclasses.replace(outcome, position=max(seen))
        return outcome


class StagedAttempt(Attempt):
    """A body's attempt inside a batch: its reads see the store plus what the bodies before it
    decided; what it appends is staged for the batch's one commit."""

    def __init__(self, transactor: Transactor, staging: _Staging) -> None:
        super().__init__(transactor.store, transactor.log)
        self._staging = staging
        self.staged_reads: set[str] = set()

    async def _fetch(self, stream_id: str) -> Stream:
        if self._staging.staged(stream_id):
            self.staged_reads.add(stream_id)
        return await self._staging.view(stream_id)

    async def load(self, fold: Fold[S]) -> Loaded[S]:
        stream = await self.read(fold.stream_id)
        state = self._staging.fold(fold, stream)
        return Loaded(stream.stream_id, stream.events, stream.version, stream.position, state)

    def audit(self, log: AuditLog, *records: AuditRecord) -> None:
        # The batch's one commit carries no body's records: refused rather than dropped.
        raise NotImplementedError("a combined command audits after its outcome, not in its body")


class CombinedCommits:
    """The per-key queues of one transactor (`Transactor.transact_combined`)."""

    def __init__(
        self,
        transactor: Transactor,
        *,
        max_batch: int = MAX_BATCH,
        body_timeout: float = BODY_TIMEOUT,
    ) -> None:
        self._transactor = transactor
        self._max_batch = max_batch
        self._body_timeout = body_timeout
        self._queues: dict[str, deque[_Request[Any]]] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        # The last committed state of the busiest keys' streams (least recently used out).
        self._known: OrderedDict[str, _Known] = OrderedDict()
        # They may hold a participant's events (sealed): an erasure or purge learned drops
        # them all, as the log's caches drop theirs (docs/adr/0066, 0099).
        transactor.log.when_forgotten(self._forget_known)

    def _forget_known(self, _participant: str) -> None:
        self._known.clear()

    async def transact(
        self,
        ctx: RequestContext,
        key: str,
        body: Callable[[Attempt], Awaitable[T]],
        *,
        reads: Collection[str] = (),
    ) -> Outcome[T]:
        """Run `body` in the next batch of `key` and answer once that batch committed. `reads`:
        streams the body will read besides the key's, read for the whole batch at once before
        its bodies run (they run one after another: a read each would add up)."""
        future: asyncio.Future[Outcome[T]] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, deque()).append(_Request(ctx, body, future, reads))
        if key not in self._runners:
            self._runners[key] = asyncio.create_task(self._run(key), name=f"combined {key}")
        # A caller that gives up cancels its future: a batch not yet at it skips it.
        return await future

    async def _run(self, key: str) -> None:
        queue = self._queues[key]
        batch: list[_Request[Any]] = []
        try:
            while queue:
                batch = [queue.popleft() for _ in range(min(self._max_batch, len(queue)))]
                deferred = await self._settle(key, batch)
                queue.extendleft(reversed(deferred))
                batch = []
        except Exception as error:  # a fault of this module: every waiting caller gets it
            for request in [*batch, *queue]:
                _fail(request, error)
            queue.clear()
        except BaseException:
            # Cancelled (the process stops): nobody waits for an answer that will not come.
            for request in [*batch, *queue]:
                request.future.cancel()
            queue.clear()
            raise
        finally:
            del self._runners[key]
            if not queue:
                del self._queues[key]

    async def _settle(self, key: str, batch: list[_Request[Any]]) -> list[_Request[Any]]:
        """Run the batch until it committed (again from scratch when the store refused it);
        answer its requests. Returns those to run in a later batch (their expectations could not
        hold together with the bodies' before them)."""
        transactor = self._transactor
        while True:
            batch = [request for request in batch if not request.future.done()]
            if not batch:
                return []
            for request in batch:
                request.tries += 1
            forgotten = transactor.log.forgotten
            staging = _Staging(transactor, self._known.pop(key, None))
            await staging.prefetch([key, *(s for request in batch for s in request.reads)])
            ran: list[_Ran] = []
            deferred: list[_Request[Any]] = []
            for request in batch:
                done = await self._run_body(staging, request)
                if done is None:
                    deferred.append(request)
                else:
                    ran.append(done)
            try:
                results = await staging.commit()
            except WrongExpectedVersion:
                # Another writer came first: everything again, on what it wrote.
                for request in batch:
                    if request.tries >= transactor.attempts:
                        _fail(request, transactor.conflict())
                await asyncio.sleep(random.uniform(0, 0.002 * batch[0].tries))  # noqa: S311
                continue
            except Exception as error:  # the store failed: this batch's callers get it
                for request in batch:
                    _fail(request, error)
                return []
            # Not kept when a participant was forgotten while the batch ran: what it read and
            # wrote was read before, and could be theirs.
            known = staging.known(key, results) if forgotten == transactor.log.forgotten else None
            if known is not None:
                self._known[key] = known
                while len(self._known) > KNOWN_STREAMS:
                    self._known.popitem(last=False)
            for done in ran:
                if done.error is not None:
                    _fail(done.request, done.error)
                elif not done.request.future.done():
                    done.request.future.set_result(staging.outcome(done, results))
            later = []
            for request in deferred:
                if request.tries >= transactor.attempts:
                    _fail(request, transactor.conflict())
                else:
                    later.append(request)
            return later

    async def _run_body(self, staging: _Staging, request: _Request[Any]) -> _Ran | None:
        """Run one body on the batch so far; None when it must wait for a later batch."""
        attempt = StagedAttempt(self._transactor, staging)
        ran = _Ran(request, attempt)
        try:
            async with asyncio.timeout(self._body_timeout):
                ran.value = await request.body(attempt)
        except Exception as error:  # the body's refusal is its own: the batch goes on
            ran.error = error
            return ran
        try:
            await staging.stage(ran)
        except Contradiction:
            return None
        except Exception as error:  # sealing failed (no key): this body's alone
            ran.error = error
        return ran


def _fail(request: _Request[Any], error: Exception) -> None:
    if not request.future.done():
        request.future.set_exception(error)
