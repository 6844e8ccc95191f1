"""`bvb portfolio rebuild`: replays the stores into shadow tables and switches while readers keep
reading; the progress bar goes to stderr."""

import asyncio
import io
from typing import TYPE_CHECKING, Any

from bilet.crypto import FieldCipher
from bilet.eventstore import NewEvent
from bilet.projections import EmbeddedFeed
from bilet.stores import open_key_store, open_source_stores
from bilet_portfolio import cli
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.readmodel import SqlPortfolioReader
from bilet_portfolio.adapters.stores import open_read_model
from bilet_portfolio.adapters.testing import dump, world_history
from bilet_portfolio.settings import SOURCES, PortfolioSettings

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder


async def test_a_rebuild_switches_while_readers_read(
    make_settings: Any, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    settings: PortfolioSettings = make_settings()
    stores = await open_source_stores(settings, SOURCES)
    keys = await open_key_store(settings)
    catalogue.cipher = FieldCipher(keys)
    read_model = await open_read_model(settings)
    try:
        for source, event in await world_history(catalogue, ids, recorder):
            new = NewEvent(event.type, event.data, event.metadata, event.event_id)
            await stores[source].append(event.stream_id, [new])
        projection = PortfolioProjection()
        await EmbeddedFeed(read_model, projection, stores).catch_up({})
        before = await dump(read_model)
        reader = SqlPortfolioReader(read_model)
        pid = str(ids.pupil("a"))
        seen: list[int] = []
        done = False

        async def read_all_the_while() -> None:
            while not done:
                participant = await reader.participant(pid)
                assert participant is not None, "a reader saw the portfolio missing"
                seen.append(participant.version)
                await asyncio.sleep(0)

        readers = asyncio.create_task(read_all_the_while())
        out = io.StringIO()
        try:
            assert await cli.rebuild(settings, None, out) == 0
        finally:
            done = True
            await readers
        assert await dump(read_model) == before
        assert seen
        assert len(set(seen)) == 1
        text = out.getvalue()
        assert "rebuilding portfolio from the stores" in text
        assert "100%" in text
        assert "switched live" in text
    finally:
        await read_model.close()
        await keys.close()
        for store in stores.values():
            await store.close()


def test_status_lists_the_positions(make_settings: Any, capsys: Any) -> None:
    settings: PortfolioSettings = make_settings()
    assert cli.main(["status"], settings=settings) == 0
    printed = capsys.readouterr().out
    assert all(f"{source}: 0" in printed for source in SOURCES)
    assert "parked streams: 0" in printed
