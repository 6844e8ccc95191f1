"""The relay: tails a service's event store and publishes every event to the service's topic.

The store is the outbox. The relay reads from its stored position, hands events to the producer in
store order, and stores a new position only once the broker has acknowledged every event up to it.
A crash anywhere (before, during or after a publish, before or after a checkpoint) therefore repeats
some events and never skips one: at least once, in order per stream (see docs/adr/0007-relay.md).

Three tasks share one producer session: the reader follows `subscribe_all` into a small buffer, the
publisher hands the buffer to the producer as one batch (a *window*), and the acknowledger waits for
windows in the order they were handed over and checkpoints. After an indefinite error (a delivery
that is not acknowledged in time, a lost connection, a failed store read) the session ends, the
producer is discarded, and a new one resumes from the stored position after a bounded backoff.
"""

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.errors import KafkaError

from bilet.eventstore import START, EventStore, RecordedEvent
from bilet.relay.metrics import RelayMetrics
from bilet.relay.positions import PositionStore

_log = logging.getLogger(__name__)

# Errors after which the relay starts a new producer session instead of stopping: the broker or the
# database is unreachable, slow or restarting. Anything else is a defect and ends the process.
RECOVERABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    KafkaError,
    sqlite3.OperationalError,
)


class Publisher(Protocol):
    """One producer session.

    Within a session, what the broker accepts of one partition is a gap-free prefix of what was
    handed over, in that order (the idempotent producer's sequence numbers see to it). That is what
    keeps the first occurrence of every event in store order even when sessions repeat events.
    """

    async def publish(self, events: Sequence[RecordedEvent]) -> "asyncio.Future[None]":
        """Hand `events` (in store order) over; the future completes once the broker has
        acknowledged all of them, or fails with the first error."""
        ...

    async def close(self, timeout: float) -> None:
        """Wait (at most `timeout`) for what was handed over, then disconnect."""
        ...

    async def abort(self, timeout: float) -> None:
        """Disconnect without waiting for acknowledgements (they no longer matter)."""
        ...


Connect = Callable[[], Awaitable[Publisher]]


@dataclass(frozen=True)
class RelayOptions:
    # Events read from the store and handed to the producer at a time (at most).
    batch_size: int = 1000
    # A window not acknowledged this long after it was handed over ends the session.
    delivery_timeout: float = 30.0
    # How often (at most) the position is stored while events flow; a crash repeats at most this
    # much. Also how long an acknowledged position waits before it is stored when the flow stops.
    checkpoint_interval: float = 0.1
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    # How often the head position and the number of unpublished events are sampled for metrics.
    lag_interval: float = 5.0
    # On stop: how long to wait for the broker to acknowledge what was already handed over.
    shutdown_timeout: float = 10.0
    # Windows handed over but not yet acknowledged, at most.
    max_windows: int = 8
    # Only these event types are published (None: all); the service's internal events stay home.
    event_types: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_windows < 1:
            raise ValueError("batch_size and max_windows must be at least 1")
        if not 0 < self.backoff_initial <= self.backoff_max:
            raise ValueError("0 < backoff_initial <= backoff_max")


class DeliveryTimeout(TimeoutError):
    """The broker did not acknowledge a window in time: an indefinite outcome."""


class Backoff:
    """Exponential delays with jitter, bounded by `maximum`."""

    def __init__(
        self, initial: float, maximum: float, jitter: Callable[[], float] = random.random
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._jitter = jitter
        self._attempt = 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * 2.0 ** min(self._attempt, 30))
        self._attempt += 1
        # Between half the ceiling and the ceiling: restarts of many relays do not line up.
        return ceiling * (0.5 + self._jitter() / 2)

    def reset(self) -> None:
        self._attempt = 0


@dataclass(slots=True)
class _Window:
    """Events handed to the producer together."""

    last_position: int
    count: int
    acknowledged: "asyncio.Future[None]"
    handed_over: float  # loop time


class _Session:
    """What the reader, the publisher and the acknowledger of one producer session share."""

    def __init__(self, buffer_limit: int, max_windows: int) -> None:
        self.buffer: list[RecordedEvent] = []
        self.buffer_limit = buffer_limit
        self.buffered = asyncio.Event()
        self.buffer_room = asyncio.Event()
        self.buffer_room.set()
        self.windows: deque[_Window] = deque()
        self.max_windows = max_windows
        self.handed_over = asyncio.Event()
        self.window_room = asyncio.Event()
        self.window_room.set()
        self.draining = False

    def settle(self) -> None:
        """Retrieve or cancel what is left, so no failed future is reported as never retrieved."""
        for window in self.windows:
            if window.acknowledged.done():
                if not window.acknowledged.cancelled():
                    window.acknowledged.exception()
            else:
                window.acknowledged.cancel()
        self.windows.clear()


class Relay:
    """Publishes one store's events to Kafka; `run` until `stop`."""

    def __init__(
        self,
        *,
        name: str,
        store: EventStore,
        positions: PositionStore,
        connect: Connect,
        options: RelayOptions | None = None,
        metrics: RelayMetrics | None = None,
        recoverable: tuple[type[BaseException], ...] = RECOVERABLE_ERRORS,
    ) -> None:
        self.name = name
        self._store = store
        self._positions = positions
        self._connect = connect
        self._options = options or RelayOptions()
        self.metrics = metrics if metrics is not None else RelayMetrics()
        self._m = self.metrics.bind(name)
        self._recoverable = recoverable
        self._stopping = asyncio.Event()
        self._published = START
        self._stored = START
        self._head = START
        self._last_save = 0.0
        self._progress = asyncio.Event()

    # ---------------------------------------------------------------- the public face

    @property
    def published_position(self) -> int:
        """Everything up to here is acknowledged by the broker (maybe not stored yet)."""
        return self._published

    @property
    def stored_position(self) -> int:
        return self._stored

    def stop(self) -> None:
        """Ask `run` to finish: what was handed over is awaited and its position stored."""
        self._stopping.set()

    async def wait_until_published(self, position: int) -> None:
        """Until the broker has acknowledged every event up to `position`."""
        while self._published < position:
            progress = self._progress
            await progress.wait()

    async def run(self) -> None:
        sampler = asyncio.create_task(self._sample_lag())
        try:
            await self._run_sessions()
            _log.info("stopped", extra={"relay": self.name, "position": self._stored})
        finally:
            self._m.connected.set(0)
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

    # ---------------------------------------------------------------- sessions

    async def _run_sessions(self) -> None:
        options = self._options
        backoff = Backoff(options.backoff_initial, options.backoff_max)
        while not self._stopping.is_set():
            publisher: Publisher | None = None
            start = self._stored
            try:
                start = await self._positions.load(self.name)
                self._resume_at(start)
                publisher = await self._connect_unless_stopped()
                if publisher is None:
                    return
                self._m.connected.set(1)
                _log.info("publishing", extra={"relay": self.name, "position": start})
                await self._session(publisher, start)
            except self._recoverable as error:
                self._m.connected.set(0)
                if publisher is not None:
                    self._m.recreated(type(error).__name__)
                    await self._discard(publisher)
                if self._stopping.is_set():
                    await self._final_checkpoint()
                    _log.warning(
                        "stopped before the broker acknowledged everything handed over; "
                        "it is published again on the next start",
                        extra=self._error_fields(error),
                    )
                    return
                if self._published > start:
                    backoff.reset()
                delay = backoff.next()
                _log.warning(
                    "publishing interrupted; resuming from the stored position"
                    if publisher is not None
                    else "cannot start publishing; trying again",
                    extra={**self._error_fields(error), "delay_s": round(delay, 3)},
                )
                await self._sleep_unless_stopped(delay)
            except BaseException:
                self._m.connected.set(0)
                if publisher is not None:
                    await self._discard(publisher)
                raise
            else:
                self._m.connected.set(0)
                await publisher.close(options.shutdown_timeout)
                return

    async def _discard(self, publisher: Publisher) -> None:
        """Abort a failed session's producer; its own failure to go must not stop the relay."""
        try:
            await publisher.abort(self._options.shutdown_timeout)
        except Exception as error:
            _log.warning("could not abort a producer", extra=self._error_fields(error))

    def _error_fields(self, error: BaseException) -> dict[str, object]:
        # The error's text names brokers, tables and ids, never event data.
        return {
            "relay": self.name,
            "error": type(error).__name__,
            "detail": str(error)[:300],
            "position": self._stored,
        }

    def _resume_at(self, position: int) -> None:
        self._stored = position
        self._m.stored_position.set(position)
        # A new session republishes from the stored position; what an earlier one had acknowledged
        # beyond it stays acknowledged, so the published position never goes back.
        if position > self._published:
            self._set_published(position)

    async def _finished_unless_stopped(self, task: "asyncio.Future[Any]") -> bool:
        """Wait for `task` or for `stop`, whichever comes first; True when `task` finished."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            stopping.cancel()
        return task.done()

    async def _connect_unless_stopped(self) -> Publisher | None:
        connecting = asyncio.ensure_future(self._connect())
        if await self._finished_unless_stopped(connecting):
            return connecting.result()
        connecting.cancel()
        try:
            publisher = await connecting
        except asyncio.CancelledError:
            return None
        # It connected before the cancellation reached it: disconnect again.
        await self._discard(publisher)
        return None

    async def _sleep_unless_stopped(self, delay: float) -> None:
        sleeping = asyncio.ensure_future(asyncio.sleep(delay))
        if not await self._finished_unless_stopped(sleeping):
            sleeping.cancel()

    async def _session(self, publisher: Publisher, start: int) -> None:
        options = self._options
        session = _Session(options.batch_size, options.max_windows)
        reader = asyncio.create_task(self._read(session, start))
        handing = asyncio.create_task(self._hand_over(publisher, session))
        acknowledger = asyncio.create_task(self._acknowledge(session))
        stopping = asyncio.create_task(self._stopping.wait())
        workers = (reader, handing, acknowledger)
        try:
            await asyncio.wait({*workers, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for worker in workers:
                if worker.done():
                    # The workers run until cancelled: one that ended has failed.
                    worker.result()
                    raise RuntimeError("a relay worker ended on its own")
            # Stop: read and hand over nothing more, wait for what was handed over.
            for worker in (reader, handing):
                worker.cancel()
            await asyncio.gather(reader, handing, return_exceptions=True)
            session.draining = True
            session.handed_over.set()
            async with asyncio.timeout(options.shutdown_timeout):
                await acknowledger
        finally:
            stopping.cancel()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, stopping, return_exceptions=True)
            session.settle()

    async def _read(self, session: _Session, start: int) -> None:
        async for event in self._store.subscribe_all(
            start, event_types=self._options.event_types, batch_size=self._options.batch_size
        ):
            session.buffer.append(event)
            session.buffered.set()
            if len(session.buffer) >= session.buffer_limit:
                session.buffer_room.clear()
                await session.buffer_room.wait()

    async def _hand_over(self, publisher: Publisher, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        timeout = self._options.delivery_timeout
        while True:
            if not session.buffer:
                session.buffered.clear()
                await session.buffered.wait()
            while len(session.windows) >= session.max_windows:
                session.window_room.clear()
                await session.window_room.wait()
            events, session.buffer = session.buffer, []
            session.buffer_room.set()
            handed_over = loop.time()
            # Handing over waits while the producer's queue for a partition is full; that wait is
            # bounded like an acknowledgement.
            async with asyncio.timeout(timeout):
                acknowledged = await publisher.publish(events)
            session.windows.append(
                _Window(events[-1].position, len(events), acknowledged, handed_over)
            )
            session.handed_over.set()

    async def _acknowledge(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        options = self._options
        while True:
            if not session.windows:
                if session.draining:
                    await self._checkpoint()
                    return
                # Idle: store what was acknowledged once the checkpoint interval is over.
                due: float | None = None
                if self._published > self._stored:
                    due = self._last_save + options.checkpoint_interval - loop.time()
                    if due <= 0:
                        await self._checkpoint()
                        continue
                session.handed_over.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due):
                        await session.handed_over.wait()
                continue
            window = session.windows[0]
            if not window.acknowledged.done():
                remaining = window.handed_over + options.delivery_timeout - loop.time()
                if remaining > 0:
                    await asyncio.wait({window.acknowledged}, timeout=remaining)
                if not window.acknowledged.done():
                    raise DeliveryTimeout(
                        f"{window.count} events up to position {window.last_position} were not "
                        f"acknowledged within {options.delivery_timeout:g} s"
                    )
            window.acknowledged.result()  # the producer's error, if it failed
            session.windows.popleft()
            session.window_room.set()
            self._m.published.inc(window.count)
            self._m.batch_seconds.observe(loop.time() - window.handed_over)
            self._set_published(window.last_position)
            if loop.time() - self._last_save >= options.checkpoint_interval:
                await self._checkpoint()

    def _set_published(self, position: int) -> None:
        self._published = position
        self._m.published_position.set(position)
        self._m.lag_positions.set(max(self._head - position, 0))
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()

    async def _checkpoint(self) -> None:
        position = self._published
        self._last_save = asyncio.get_running_loop().time()
        if position <= self._stored:
            return
        await self._positions.save(self.name, position)
        self._stored = position
        self._m.stored_position.set(position)

    async def _final_checkpoint(self) -> None:
        """On a stop that could not drain: keep what was acknowledged, if the database lets us."""
        try:
            await self._checkpoint()
        except self._recoverable as error:
            _log.warning("could not store the final position", extra=self._error_fields(error))

    # ---------------------------------------------------------------- lag

    async def _sample_lag(self) -> None:
        while True:
            try:
                self._head = await self._store.head_position()
                self._m.head_position.set(self._head)
                self._m.lag_positions.set(max(self._head - self._published, 0))
                unpublished = await self._positions.count_after(self._published)
                if unpublished is not None:
                    self._m.lag_events.set(unpublished)
            except Exception as error:  # a metric must never stop the relay
                _log.debug("lag not sampled", extra=self._error_fields(error))
            await asyncio.sleep(self._options.lag_interval)
