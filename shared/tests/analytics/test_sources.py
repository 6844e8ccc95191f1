"""A store's lane read a page ahead: every published event from the cursor up to the end, once
and in order, whatever the page size; a reader that stops early leaves no read behind."""

import asyncio
import json
from collections.abc import AsyncGenerator, Collection

import pytest

from bilet.analytics import sources
from bilet.analytics.sources import StoreSource
from bilet.contracts import CATALOGUE
from bilet.contracts import examples as ex
from bilet.eventstore import NewEvent, RecordedEvent
from bilet.eventstore.memory import InMemoryEventStore

EVENTS = 11


class CountedStore(InMemoryEventStore):
    """Counts the reads begun and ended; with `answered`, reads after that many never end
    unless cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.begun = self.ended = 0
        self.answered: int | None = None

    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        self.begun += 1
        try:
            await asyncio.sleep(0)  # a read takes a turn of the loop, as a real one does
            if self.answered is not None and self.begun > self.answered:
                await asyncio.Event().wait()
            return await super().read_all(
                after_position, limit, categories=categories, event_types=event_types
            )
        finally:
            self.ended += 1


async def consent_store() -> CountedStore:
    store = CountedStore()
    model = CATALOGUE.latest("ConsentVerified")
    data = json.dumps(ex.EXAMPLES[("ConsentVerified", model.schema_version)]).encode()
    meta = b'{"schema_version":%d}' % model.schema_version
    for number in range(EVENTS):
        await store.append(f"consent-{number}", [NewEvent("ConsentVerified", data, meta)])
        await store.append(f"other-{number}", [NewEvent("NotPublished", b"{}")])
    return store


@pytest.mark.parametrize("page", [1, 3, EVENTS, 50])
async def test_a_lane_is_read_once_in_order_up_to_its_end(
    page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "PAGE", page)
    store = await consent_store()
    source = StoreSource({"consent": store})
    published = [e.position for e in await store.read_all(0, 100) if e.type == "ConsentVerified"]
    end = published[-3]  # the lane's end when the run began: later events are not read

    read = [(e.position, cursor) async for p in source.read("consent", 0, end) for e, cursor in p]

    assert read == [(position, position) for position in published[:-2]]
    assert store.begun == store.ended
    after = published[2]
    again = [e.position async for p in source.read("consent", after, end) for e, _ in p]
    assert again == published[3:-2]


async def test_a_reader_that_stops_early_leaves_no_read_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sources, "PAGE", 2)
    store = await consent_store()
    store.answered = 1
    source = StoreSource({"consent": store})
    pages = source.read("consent", 0, 10_000)
    assert isinstance(pages, AsyncGenerator)
    first = await anext(pages)
    assert len(first) == 2
    await asyncio.sleep(0)  # the caller busy elsewhere: the next page is being read meanwhile
    assert (store.begun, store.ended) == (2, 1)
    await pages.aclose()
    await asyncio.sleep(0)  # the cancelled read's turn to end
    assert store.begun == store.ended
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
