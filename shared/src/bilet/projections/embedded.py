"""The embedded feed: projections fed in-process straight from event stores (`make run`).

Each source store is one feed partition named after the source (`identity`, …); its checkpoint is
the last store position handled, so the feed resumes with `subscribe_all(after_position=…)`. The
engine is the Kafka path's (`projector`): the same dedupe by stream version, the same checkpoint
in the same transaction, the same parking of a stream that cannot be applied. A store delivers
every stream in version order, so a gap here means events were removed from the store; it is
re-read `gap_retries` times and then dead-lettered to the read model's dead-letter table.

`BackgroundFeed` runs a feed in a process's lifespan: caught up before the process serves, then
live in a background task whose state readiness reports.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping

from bilet.background import in_background, stop
from bilet.eventstore import EventStore, RecordedEvent
from bilet.projections.merged import Run, apply_merged
from bilet.projections.metrics import ProjectionMetrics
from bilet.projections.port import Projection
from bilet.projections.projector import Applied, Delivery, Gap, Projector
from bilet.projections.readmodel import ReadModel

_log = logging.getLogger(__name__)


class EmbeddedFeed:
    """Feeds one projection from event stores (by source name): `run()` live until cancelled, or
    `catch_up(targets)` until every source's checkpoint reaches its target (by (source, 0)) and
    the store's head as of the call."""

    def __init__(
        self,
        read_model: ReadModel,
        projection: Projection,
        sources: Mapping[str, EventStore],
        *,
        metrics: ProjectionMetrics | None = None,
        shadow: bool = False,
        batch_size: int = 500,
        gap_retries: int = 3,
        gap_backoff: float = 0.2,
        attempts: int = 3,
        retry_backoff: float = 1.0,
        event_types: Collection[str] | None = None,
        long_transactions: int = 0,
    ) -> None:
        self.read_model = read_model
        # With `shadow` (a rebuild), at least this many merged events, of any sources, per
        # transaction (ADR 0068); 0: each run of one source in its own, as live.
        self.long_transactions = long_transactions
        # Only these types are read from the stores (None: all). A service's feed passes the
        # published ones (`bilet.contracts.CATALOGUE.event_types()`): what a relay would put on
        # Kafka, so that another service's internal streams (uniqueness reservations, whose ids
        # are keyed hashes of a СНИЛС) never reach this read model, not even as a stream id in
        # its bookkeeping, just as on the Kafka path.
        self.event_types = None if event_types is None else frozenset(event_types)
        self.projection = projection
        self.sources = dict(sources)
        self.metrics = metrics or ProjectionMetrics()
        self.shadow = shadow
        self.batch_size = batch_size
        self.gap_retries = gap_retries
        self.gap_backoff = gap_backoff
        self.retry_backoff = retry_backoff
        self.projector = Projector(
            read_model, projection, metrics=self.metrics, shadow=shadow, attempts=attempts
        )

    async def run(self) -> None:
        await self.projector.install()
        async with asyncio.TaskGroup() as group:
            for source, store in self.sources.items():
                group.create_task(self._follow(source, store, None))

    async def catch_up(self, targets: Mapping[tuple[str, int], int]) -> None:
        await self.projector.install()
        heads = {source: await store.head_position() for source, store in self.sources.items()}
        goals = {source: max(heads[source], targets.get((source, 0), 0)) for source in heads}
        # First the sources interleaved in one deterministic order, as they happened; then each
        # source's own follower finishes what that pass left (a gap, a moved checkpoint).
        finished: dict[str, int] = {}
        if len(self.sources) > 1:  # one source has one order already, and a faster reader
            finished = await self._interleaved(goals)
        # A source the merge applied through to its head as of the call needs no follower, nor
        # the look-up of the follower's goal (`_head`, ADR 0114/0115);
        # one with a target beyond its head waits for it there, as before, and that target is
        # its goal whatever the head's last delivered event is, so `_head` is not asked.
        left: dict[str, int] = {}
        for source, store in self.sources.items():
            target = targets.get((source, 0), 0)
            if target > heads[source]:
                left[source] = target
            elif source in finished:
                _reachable(source, target, finished[source], heads[source])
            else:
                last = await self._head(source, store, heads[source])
                _reachable(source, target, last, heads[source])
                left[source] = max(last, target)
        await asyncio.gather(
            *(self._follow(source, self.sources[source], goal) for source, goal in left.items())
        )

    async def _interleaved(self, goals: Mapping[str, int]) -> dict[str, int]:
        """Apply the sources' events up to their goals merged by when they were recorded, then
        by source name: a projection that decides on what it has seen of several sources (the
        recommender issues a set on the evidence so far) decides the same on every machine,
        instead of on however the sources' readers happened to race. A source whose batch is
        not simply applied leaves the merge where it stands, for its follower to finish. The
        sources applied through to their goals are returned with their checkpoints."""
        projector = self.projector
        checkpoint = {
            source: (await projector.resume_points(source, [0], source))[0]
            for source in self.sources
        }
        pending: dict[str, deque[RecordedEvent]] = {source: deque() for source in self.sources}
        read_to = dict(checkpoint)

        async def head(source: str) -> RecordedEvent | None:
            if not pending[source] and read_to[source] < goals[source]:
                page = await self.sources[source].read_all(
                    read_to[source], self.batch_size, event_types=self.event_types
                )
                pending[source] = deque(e for e in page if e.position <= goals[source])
                read_to[source] = page[-1].position if page else goals[source]
            return pending[source][0] if pending[source] else None

        # A rebuild gathers the merge's runs, of whichever sources, into long transactions
        # (ADR 0068); a live catch-up applies each run in its own.
        gather = self.long_transactions if self.shadow else 0
        parked = {(p.source, p.stream_id) for p in await self.read_model.parked(projector.key)}
        runs: list[Run] = []
        gathered = 0
        while True:
            heads = {s: e for s in sorted(pending) if (e := await head(s)) is not None}
            if not heads:
                break
            source = min(heads, key=lambda s: (heads[s].recorded_at, s))
            others = [(e.recorded_at, s) for s, e in heads.items() if s != source]
            bound = min(others, default=None)
            run = []
            while pending[source] and (
                bound is None or (pending[source][0].recorded_at, source) <= bound
            ):
                run.append(pending[source].popleft())
            runs.append(Run(source, run))
            gathered += len(run)
            if gathered >= gather:
                await self._apply_runs(runs, checkpoint, pending, parked)
                runs, gathered = [], 0
        if runs:
            await self._apply_runs(runs, checkpoint, pending, parked)
        # Each read through to its goal, every event of it applied.
        return {source: checkpoint[source] for source in pending}

    async def _apply_runs(
        self,
        runs: list[Run],
        checkpoint: dict[str, int],
        pending: dict[str, deque[RecordedEvent]],
        parked: set[tuple[str, str]],
    ) -> None:
        """Apply the merge's runs: together in one transaction when there are several and they
        are clean (`apply_merged`), else each in its own, as a live feed does. A source whose
        run is not simply applied leaves the merge (its later runs too), for its follower."""
        if len(runs) > 1:
            moved = await apply_merged(self.projector, runs, checkpoint, parked)
            if moved is not None:
                checkpoint.update(moved)
                return
        for run in runs:
            if run.source not in pending:
                continue
            deliveries = [Delivery(e, e.position, e.position) for e in run.events]
            outcome = await self.projector.apply(
                run.source, 0, checkpoint[run.source], deliveries, {}
            )
            if not isinstance(outcome, Applied):
                del pending[run.source]  # its follower re-reads from the checkpoint
                continue
            checkpoint[run.source] = outcome.checkpoint
        if len(runs) > 1:  # the ordinary path may have parked streams
            parked |= {
                (p.source, p.stream_id) for p in await self.read_model.parked(self.projector.key)
            }

    async def _head(self, source: str, store: EventStore, head: int) -> int:
        """The position a follower must reach for a catch-up to the store's `head`: the head,
        or with a filter the last event it lets through (the checkpoint only ever reaches
        delivered events), which a store may find without reading the events
        (`EventStore.last_position`, ADR 0114). Asked only for a source the merge did not
        finish (`catch_up`, ADR 0115)."""
        if self.event_types is None:
            return head
        resume = (await self.projector.resume_points(source, [0], source))[0]
        last = await store.last_position(self.event_types, resume, head)
        return resume if last is None else last

    async def _follow(self, source: str, store: EventStore, goal: int | None) -> None:
        projector = self.projector
        verdicts: dict[int, tuple[str, str]] = {}
        gap_attempts: dict[int, int] = {}
        expected = (await projector.resume_points(source, [0], source))[0]
        while goal is None or expected < goal:
            try:
                async with contextlib.aclosing(self._batches(store, expected)) as batches:
                    async for events in batches:
                        deliveries = [Delivery(e, e.position, e.position) for e in events]
                        outcome = await projector.apply(source, 0, expected, deliveries, verdicts)
                        if isinstance(outcome, Applied):
                            expected = outcome.checkpoint
                            for offset in [o for o in verdicts if o <= expected]:
                                del verdicts[offset]
                            for offset in [o for o in gap_attempts if o <= expected]:
                                del gap_attempts[offset]
                            if goal is not None and expected >= goal:
                                return
                            continue
                        if isinstance(outcome, Gap):
                            expected = outcome.checkpoint
                            offset = outcome.delivery.offset
                            attempts = gap_attempts[offset] = gap_attempts.get(offset, 0) + 1
                            if attempts == 1:
                                self.metrics.gaps.labels(self.projection.name).inc()
                            if attempts > self.gap_retries:
                                verdicts[offset] = (
                                    "gap",
                                    f"{outcome.reason}; still missing after "
                                    f"{self.gap_retries} re-reads",
                                )
                            else:
                                await asyncio.sleep(self.gap_backoff * attempts)
                        else:
                            _log.info("projection %s: %s moved; re-reading", projector.key, source)
                            expected = (await projector.resume_points(source, [0], source))[0]
                        break  # read again from the checkpoint
            except Exception as error:
                if not self.read_model.is_transient(error):
                    raise
                _log.warning(
                    "projection %s: %r; resuming from the read model", projector.key, error
                )
                await asyncio.sleep(self.retry_backoff)
                expected = (await projector.resume_points(source, [0], source))[0]

    async def _batches(
        self, store: EventStore, after: int
    ) -> AsyncGenerator[list[RecordedEvent], None]:
        """The store's events after a position, live, in batches of what is ready."""
        queue: asyncio.Queue[RecordedEvent | Exception] = asyncio.Queue(self.batch_size * 4)

        async def pump() -> None:
            try:
                async for event in store.subscribe_all(
                    after, batch_size=self.batch_size, event_types=self.event_types
                ):
                    await queue.put(event)
            except Exception as error:
                await queue.put(error)

        task = asyncio.create_task(pump())
        try:
            while True:
                item = await queue.get()
                batch: list[RecordedEvent] = []
                while not isinstance(item, Exception):
                    batch.append(item)
                    if len(batch) >= self.batch_size or queue.empty():
                        break
                    item = queue.get_nowait()
                if batch:
                    yield batch
                if isinstance(item, Exception):
                    raise item
        finally:
            await stop(task)


class UnreachableTarget(RuntimeError):
    """A catch-up's target at or below its source's head that no event this feed delivers
    reaches: the checkpoint only ever stands on a delivered event, so only a later event could
    pass it. A target is a live feed's checkpoint (a rebuild's `switch`), so the live feed and
    this one disagree on what they read (their `event_types`), or, in a feed without a filter,
    that event was purged since; waiting would hang, or end on an unrelated later event (ADR 0115,
    amendment)."""


def _reachable(source: str, target: int, reached: int, head: int) -> None:
    """Raise `UnreachableTarget` if `reached` (the checkpoint after the merge, or the last
    delivered event up to the head) stays below a target at or below the head."""
    if reached < target <= head:
        raise UnreachableTarget(
            f"catch-up of {source!r}: target {target} is at or below the head {head}, but the "
            f"last event this feed delivers up to it is at {reached}; the live feed and the "
            "replay read different event types (or, unfiltered, that event was purged since)"
        )


class BackgroundFeed:
    """An embedded feed in the background of a process (`make run`): `running(feed)` catches
    up first, so that what the stores held at start is visible when the process serves, then
    follows the stores live in the task `name` until the context ends. `runs` is its
    readiness: false before it started and once it stopped (a failure is logged as it happens)."""

    def __init__(self, name: str, what: str = "embedded feed") -> None:
        self.name = name
        self.what = what
        self.task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def running(self, feed: EmbeddedFeed) -> AsyncIterator[asyncio.Task[None]]:
        await feed.catch_up({})
        async with in_background(feed.run(), name=self.name, what=self.what) as task:
            self.task = task
            yield task

    @property
    def runs(self) -> bool:
        return self.task is not None and not self.task.done()
