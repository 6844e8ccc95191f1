"""The relay's unit tests run on the in-memory store, positions and broker: real classes."""

import pytest

from bilet.eventstore.memory import InMemoryEventStore
from bilet.relay import InMemoryPositionStore, RelayMetrics
from bilet.relay.memory import MemoryBroker


@pytest.fixture
def store() -> InMemoryEventStore:
    store = InMemoryEventStore()
    store.poll_interval = 0.02  # a live subscription looks again this often
    return store


@pytest.fixture
def positions(store: InMemoryEventStore) -> InMemoryPositionStore:
    return InMemoryPositionStore(store)


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def metrics() -> RelayMetrics:
    return RelayMetrics()
