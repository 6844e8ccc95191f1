"""Kept folds of reference streams (`Transactor(kept_categories=)`): folded once, then checked
by version on every command and brought up to date with only what was appended since, by
whichever writer; a stream that went back is read whole; other categories are read as before.

The store is the in-memory adapter, wrapped to count its reads (a real `EventStore`); on SQLite,
whose change marks spare the look at the version, the adapter itself."""

from pathlib import Path
from typing import ClassVar

from bilet.application import EventLog, RequestContext, Transactor
from bilet.application.transact import Attempt, Fold
from bilet.contracts import DomainEvent, EventMetadata, EventRegistry
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import EventStore, RecordedEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.http.auth import Principal, Role

RULES = EventRegistry()


@RULES.register
class LimitSet(DomainEvent):
    """A reference value was set (a stand-in for a season's rules)."""

    event_type: ClassVar[str] = "LimitSet"
    service: ClassVar[str] = "identity"
    stream_category: ClassVar[str] = "limit"
    stream_key: ClassVar[str] = "name"

    name: str
    value: int


@RULES.register
class Counted(DomainEvent):
    """Something was counted (a stream of a category that is not kept)."""

    event_type: ClassVar[str] = "Counted"
    service: ClassVar[str] = "identity"
    stream_category: ClassVar[str] = "counter"
    stream_key: ClassVar[str] = "name"

    name: str


LOG = EventLog(RULES, ["limit", "counter"])
META = EventMetadata(correlation_id="c-1", actor="operator-1", actor_role="operator")


class CountingStore(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.read_from: list[tuple[str, int | None]] = []

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        self.read_from.append((stream_id, from_version))
        return await super().read_stream(stream_id, from_version, backwards=backwards, limit=limit)


def values(seen: tuple[int, ...], event: DomainEvent) -> tuple[int, ...]:
    assert isinstance(event, LimitSet)
    return (*seen, event.value)


def counts(seen: tuple[int, ...], _: DomainEvent) -> tuple[int, ...]:
    return (*seen, 1)


NOTHING: tuple[int, ...] = ()
LIMIT: Fold[tuple[int, ...]] = Fold("limit-a", NOTHING, values)
COUNTER: Fold[tuple[int, ...]] = Fold("counter-a", NOTHING, counts)


async def set_limit(store: EventStore, value: int) -> None:
    """A write by another writer (another process), straight to the store."""
    await store.append("limit-a", [LOG.encode(LimitSet(name="a", value=value), META)])


def transactor(store: EventStore) -> Transactor:
    return Transactor(
        store, FieldCipher(InMemoryKeyStore()), LOG, RuntimeError, kept_categories=["limit"]
    )


async def test_a_kept_fold_is_checked_by_version_and_extended_with_what_is_new() -> None:
    store = CountingStore()
    commands = transactor(store)
    await set_limit(store, 10)

    first = await commands.attempt().load(LIMIT)
    again = await commands.attempt().load(LIMIT)
    assert (first.state, again.state, again.version) == ((10,), (10,), 0)
    assert store.read_from == [("limit-a", None)]  # read once; the second only looked

    await set_limit(store, 20)
    await set_limit(store, 30)
    later = await commands.attempt().load(LIMIT)
    assert (later.state, later.version) == ((10, 20, 30), 2)
    assert store.read_from[1:] == [("limit-a", 1)]  # only what was appended since


async def test_other_categories_are_read_whole_every_time() -> None:
    store = CountingStore()
    commands = transactor(store)
    await store.append("counter-a", [LOG.encode(Counted(name="a"), META)])
    for _ in range(2):
        assert (await commands.attempt().load(COUNTER)).state == (1,)
    assert store.read_from == [("counter-a", None), ("counter-a", None)]


async def test_a_deleted_or_recreated_stream_is_read_whole() -> None:
    store = CountingStore()
    commands = transactor(store)
    await set_limit(store, 10)
    await commands.attempt().load(LIMIT)

    await store.delete_stream("limit-a")
    gone = await commands.attempt().load(LIMIT)
    assert (gone.state, gone.version) == ((), None)
    await set_limit(store, 40)
    assert (await commands.attempt().load(LIMIT)).state == (40,)


async def test_a_command_on_a_kept_stream_appends_on_the_version_it_decided_on() -> None:
    """A decision taken on a kept fold is guarded like any other: a change made meanwhile by
    another writer is refused at the append and the command decides again on the new state."""
    store = CountingStore()
    commands = transactor(store)
    await set_limit(store, 10)
    await commands.attempt().load(LIMIT)
    seen: list[tuple[int, ...]] = []

    async def raise_by_one(attempt: Attempt) -> None:
        loaded = await attempt.load(LIMIT)
        seen.append(loaded.state)
        if len(seen) == 1:
            await set_limit(store, 50)  # another writer, between this read and its append
        attempt.append(LIMIT.stream_id, [LimitSet(name="a", value=loaded.state[-1] + 1)])

    ctx = RequestContext(Principal(subject="operator-1", role=Role.OPERATOR), "c-1")
    outcome = await commands.transact_many(ctx, raise_by_one)
    assert seen == [(10,), (10, 50)]
    assert outcome.appended
    assert (await commands.attempt().load(LIMIT)).state == (10, 50, 51)


class LookingSqliteStore(SqliteEventStore):
    """The SQLite adapter, counting the looks at a stream's version."""

    looked: int = 0

    async def stream_version(self, stream_id: str) -> int | None:
        self.looked += 1
        return await super().stream_version(stream_id)


async def test_on_sqlite_a_kept_fold_nobody_wrote_since_is_not_looked_at(tmp_path: Path) -> None:
    """With the store's change marks (docs/adr/0081), a kept fold whose category nobody wrote
    is taken as kept without a look at its version; a write by this store, or by another
    connection on the file (another process), is seen by the next command as before."""
    path = tmp_path / "events.sqlite3"
    store = await LookingSqliteStore.open(path)
    assert isinstance(store, LookingSqliteStore)
    other_process = await SqliteEventStore.open(path)
    commands = transactor(store)
    try:
        await set_limit(store, 10)
        assert (await commands.attempt().load(LIMIT)).state == (10,)
        looked = store.looked
        await store.append("counter-a", [LOG.encode(Counted(name="a"), META)])  # not kept
        for _ in range(3):
            assert (await commands.attempt().load(LIMIT)).state == (10,)
        assert store.looked == looked  # nobody wrote the category: no look at all

        await set_limit(other_process, 20)
        assert (await commands.attempt().load(LIMIT)).state == (10, 20)
        await set_limit(store, 30)
        assert (await commands.attempt().load(LIMIT)).state == (10, 20, 30)
        await other_process.delete_stream("limit-a")
        gone = await commands.attempt().load(LIMIT)
        assert (gone.state, gone.version) == ((), None)
    finally:
        await other_process.close()
        await store.close()
