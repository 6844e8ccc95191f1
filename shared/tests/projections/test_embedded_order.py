"""The embedded feed's catch-up applies several sources in the order their events were recorded
(then by source name), whichever source's store answers first: a projection that decides on what
it has seen of several sources decides the same on every machine."""

import asyncio
import json
from collections.abc import Collection
from pathlib import Path
from typing import cast

import pytest

from bilet.eventstore import NewEvent, RecordedEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.projections import EmbeddedFeed, ReadModel, ReadModelTx, Table
from bilet.projections.embedded import UnreachableTarget


class Arrivals:
    """Writes down the order in which the feed applied events."""

    name = "arrivals"
    tables = (Table("arrivals", "seq BIGINT PRIMARY KEY, stream_id TEXT NOT NULL"),)

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        await tx.execute(
            "INSERT INTO {arrivals} (seq, stream_id) SELECT count(*) + 1, $1 FROM {arrivals}",
            event.stream_id,
        )


class SlowStore(SqliteEventStore):
    """A store whose reads answer late (a busy disk, a far database)."""

    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        await asyncio.sleep(0.02)
        return await super().read_all(
            after_position, limit, categories=categories, event_types=event_types
        )


async def test_catch_up_applies_the_sources_in_the_order_they_were_recorded(
    read_model: ReadModel, tmp_path: Path
) -> None:
    async with (
        await SlowStore.open(tmp_path / "consent.sqlite3") as slow,
        await SqliteEventStore.open(tmp_path / "identity.sqlite3") as fast,
    ):
        recorded = []
        for n in range(30):
            # identity's pupil, then consent's form for them, then the next pupil: as a season
            for store, stream in ((fast, f"pupil-{n}"), (slow, f"consent-{n}")):
                event = json.dumps({"n": n}).encode()
                await store.append(stream, [NewEvent("Happened", event)])
                recorded.append(stream)
        feed = EmbeddedFeed(
            read_model, Arrivals(), {"consent": slow, "identity": fast}, batch_size=8
        )
        await feed.catch_up({})
        async with read_model.query(Arrivals()) as tx:
            rows = await tx.fetch("SELECT stream_id FROM {arrivals} ORDER BY seq")
        assert [row[0] for row in rows] == recorded


class CountedStore(SqliteEventStore):
    """A store that counts the events its reads return."""

    read = 0

    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        page = await super().read_all(
            after_position, limit, categories=categories, event_types=event_types
        )
        self.read += len(page)
        return page


async def test_a_filtered_catch_up_of_several_sources_reads_each_event_once(
    read_model: ReadModel, tmp_path: Path
) -> None:
    """The merge applies every source through to its head as of the call, so no follower is
    left to find where a source's last delivered event is (a read of every event once more,
    ADR 0115), even where the stores end in events the filter leaves out."""
    consent = cast(CountedStore, await CountedStore.open(tmp_path / "consent.sqlite3"))
    identity = cast(CountedStore, await CountedStore.open(tmp_path / "identity.sqlite3"))
    async with consent, identity:
        recorded = []
        for n in range(30):
            for store, stream in ((identity, f"pupil-{n}"), (consent, f"consent-{n}")):
                event = json.dumps({"n": n}).encode()
                await store.append(stream, [NewEvent("Happened", event)])
                recorded.append(stream)
                await store.append(f"internal-{stream}", [NewEvent("Internal", b"{}")])
        feed = EmbeddedFeed(
            read_model,
            Arrivals(),
            {"consent": consent, "identity": identity},
            batch_size=8,
            event_types={"Happened"},
        )
        await asyncio.wait_for(feed.catch_up({}), 30.0)  # bounded: a hang fails, not a wait
        async with read_model.query(Arrivals()) as tx:
            rows = await tx.fetch("SELECT stream_id FROM {arrivals} ORDER BY seq")
        assert [row[0] for row in rows] == recorded
        assert (consent.read, identity.read) == (30, 30)

        # A second catch-up applies and reads nothing again.
        await asyncio.wait_for(feed.catch_up({}), 30.0)
        async with read_model.query(Arrivals()) as tx:
            assert await tx.fetchval("SELECT count(*) FROM {arrivals}") == len(recorded)
        assert (consent.read, identity.read) == (30, 30)


@pytest.mark.parametrize("sources", [("a",), ("a", "b")])
async def test_a_target_no_delivered_event_reaches_is_an_error_naming_it_not_a_hang(
    read_model: ReadModel, tmp_path: Path, sources: tuple[str, ...]
) -> None:
    """A live feed's checkpoint on an event this feed's filter leaves out (the two read different
    types) cannot be reached: the catch-up says so instead of waiting for a later event (a
    hang), or returning below it (a rebuild's switch then refuses round after round)."""
    stores = {name: await SqliteEventStore.open(tmp_path / f"{name}.sqlite3") for name in sources}
    try:
        for n in range(6):
            for store in stores.values():
                await store.append(f"s-{n}", [NewEvent("A", b"{}")])
        target = (await stores["a"].append("other", [NewEvent("B", b"{}")])).position
        await stores["a"].append("other", [NewEvent("B", b"{}")])  # the head is beyond it
        feed = EmbeddedFeed(read_model, Arrivals(), stores, batch_size=4, event_types={"A"})
        with pytest.raises(UnreachableTarget, match=rf"'a'.*target {target}.*at 6\b"):
            await asyncio.wait_for(feed.catch_up({("a", 0): target}), 30.0)
        # What it could reach it applied; a target it reaches is met as before.
        await asyncio.wait_for(feed.catch_up({("a", 0): 6}), 30.0)
        async with read_model.query(Arrivals()) as tx:
            assert await tx.fetchval("SELECT count(*) FROM {arrivals}") == 6 * len(sources)
    finally:
        for store in stores.values():
            await store.close()
