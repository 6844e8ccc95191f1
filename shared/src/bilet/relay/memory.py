"""An in-memory stand-in for the broker, for unit tests of the relay and of what uses it.

It records what every producer session handed over and what it acknowledged, and does what a test
asks: acknowledge at once or only when told, fail publishes, refuse connections.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from aiokafka.errors import KafkaConnectionError

from bilet.eventstore import RecordedEvent


@dataclass
class HandedOver:
    """One window of events a session handed over."""

    session: int
    events: list[RecordedEvent]
    acknowledged: "asyncio.Future[None]"


@dataclass
class MemoryBroker:
    acknowledge_at_once: bool = True
    refuse_connections: int = 0
    fail_publishes: list[BaseException] = field(default_factory=list)
    fail_aborts: bool = False
    sessions: int = 0
    connection_attempts: int = 0
    log: list[RecordedEvent] = field(default_factory=list)  # acknowledged, in order
    handed_over: list[HandedOver] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    aborted: list[int] = field(default_factory=list)

    async def connect(self) -> "MemoryPublisher":
        """A `bilet.relay.Connect`."""
        self.connection_attempts += 1
        if self.refuse_connections > 0:
            self.refuse_connections -= 1
            raise KafkaConnectionError("no broker answers (in-memory broker told to refuse)")
        self.sessions += 1
        return MemoryPublisher(self, self.sessions)

    def acknowledge(self, windows: int = 1) -> None:
        """Acknowledge the oldest `windows` windows still waiting."""
        waiting = [w for w in self.handed_over if not w.acknowledged.done()]
        for window in waiting[:windows]:
            self.log.extend(window.events)
            window.acknowledged.set_result(None)

    @property
    def published_ids(self) -> list[UUID]:
        return [event.event_id for event in self.log]


class MemoryPublisher:
    """A `bilet.relay.Publisher` session of a `MemoryBroker`."""

    def __init__(self, broker: MemoryBroker, session: int) -> None:
        self._broker = broker
        self.session = session

    async def publish(self, events: Sequence[RecordedEvent]) -> "asyncio.Future[None]":
        broker = self._broker
        if broker.fail_publishes:
            raise broker.fail_publishes.pop(0)
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        window = HandedOver(self.session, list(events), acknowledged)
        broker.handed_over.append(window)
        if broker.acknowledge_at_once:
            broker.log.extend(window.events)
            acknowledged.set_result(None)
        return acknowledged

    async def close(self, timeout: float) -> None:
        self._broker.closed.append(self.session)

    async def abort(self, timeout: float) -> None:
        self._broker.aborted.append(self.session)
        if self._broker.fail_aborts:
            raise KeyError("the producer fell over while being discarded (in-memory broker)")
