"""`bvb portfolio rebuild`: replays the stores into shadow tables and switches while readers keep
reading; the progress bar goes to stderr."""

import asyncio
import io
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bilet.http.testing import app_lifespan
from bilet.projections.port import SqlRenderer
from bilet_portfolio import cli, worker
from bilet_portfolio.adapters import layout
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.readmodel import SqlPortfolioReader
from bilet_portfolio.adapters.stores import open_read_model
from bilet_portfolio.adapters.testing import dump
from bilet_portfolio.app import create_app
from bilet_portfolio.settings import SOURCES, PortfolioSettings

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids
    from services.portfolio.tests.integration.conftest import WorldFactory


async def test_a_rebuild_switches_while_readers_read(
    recorded_world: "WorldFactory", ids: "Ids"
) -> None:
    world = await recorded_world()
    read_model = await world.read_model()
    before = await world.caught_up(read_model)
    reader = SqlPortfolioReader(read_model)
    pid = str(ids.pupil("a"))
    seen: list[int] = []
    done = False

    async def read_all_the_while() -> None:
        while not done:
            snapshot = await reader.participant(pid)
            assert snapshot is not None, "a reader saw the portfolio missing"
            seen.append(snapshot.participant.version)
            await asyncio.sleep(0)

    readers = asyncio.create_task(read_all_the_while())
    out = io.StringIO()
    try:
        assert await cli.rebuild(world.settings, None, out) == 0
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


def test_status_lists_the_positions(make_settings: Any, capsys: Any) -> None:
    settings: PortfolioSettings = make_settings()
    assert cli.main(["status"], settings=settings) == 0
    printed = capsys.readouterr().out
    assert all(f"{source}: 0" in printed for source in SOURCES)
    assert "parked streams: 0" in printed


async def test_tables_of_an_older_layout_are_rebuilt_or_refused(
    make_settings: Any, recorded_world: "WorldFactory"
) -> None:
    """An embedded start on a read model an older version built rebuilds it from the stores
    before serving; a process without the stores is not ready, and the worker refuses to
    start, until `bvb portfolio rebuild` did it."""
    world = await recorded_world()
    async with await open_read_model(world.settings) as read_model:
        expected = await world.caught_up(read_model)
        # What the layout before this one left: no `consents`, a state it no longer names.
        async with read_model.transaction(SqlRenderer("sqlite", {})) as tx:
            await tx.execute("DROP TABLE consents")
            await tx.execute("UPDATE participants SET consent_state = 'submitted'")
        assert await layout.outdated(read_model, PortfolioProjection())

    distributed = create_app(make_settings(portfolio_embedded_feed=False))
    async with (
        app_lifespan(distributed) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://portfolio"
        ) as client,
    ):
        ready = await client.get("/portfolio/readyz")
    assert ready.status_code == 503
    assert "bvb portfolio rebuild" in ready.text
    with pytest.raises(SystemExit, match="bvb portfolio rebuild --from kafka"):
        await worker.run(make_settings(kafka_bootstrap="localhost:1"))

    embedded = create_app(make_settings())
    async with (
        app_lifespan(embedded) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://portfolio"
        ) as client,
    ):
        ready = await client.get("/portfolio/readyz")
        assert ready.status_code == 200, ready.text
        rebuilt = await dump(embedded.state.read_model)
    assert rebuilt == expected
