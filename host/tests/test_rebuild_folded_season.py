"""A simulated season (`bvb simulate season`, through the services' real deciders) rebuilt into
a PostgreSQL portfolio read model by a fold (ADR 0076): row for row the tables a live catch-up
of the same stores builds, with the same checkpoints and no dead letter."""

import uuid
from pathlib import Path

import pytest

from bilet.contracts import CATALOGUE
from bilet.eventstore import EventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.projections import EmbeddedFeed, rebuild_from_stores
from bilet.projections.postgres import PostgresReadModel, drop_schema
from bilet.settings import PlatformSettings
from bilet_host.simulate import SeasonPlan, simulate_season
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.testing import dump
from bilet_portfolio.settings import PROJECTION_NAME, SOURCES

pytestmark = pytest.mark.integration

PLAN = SeasonPlan(seed=5, regions=1, pupils=6, season=2026)


async def test_a_folded_rebuild_of_a_season_equals_the_live_projection(
    tmp_path: Path, database_url: str
) -> None:
    var_dir = tmp_path / "var"
    # one process, however idle the machine: the fold is what is tested, not the helper
    report = await simulate_season(PLAN, var_dir, synchronous="NORMAL", processes=1)
    assert report.refused == {}
    settings = PlatformSettings(var_dir=var_dir)
    stores: dict[str, EventStore] = {
        source: await SqliteEventStore.open(settings.sqlite_path(source), "NORMAL")
        for source in SOURCES
    }
    published = CATALOGUE.event_types()
    schemas = [f"sfl{uuid.uuid4().hex[:12]}", f"sff{uuid.uuid4().hex[:12]}"]
    live = await PostgresReadModel.open(database_url, schema=schemas[0])
    rebuilt = await PostgresReadModel.open(database_url, schema=schemas[1])
    try:
        await EmbeddedFeed(live, PortfolioProjection(), stores, event_types=published).catch_up({})
        expected = await dump(live)
        assert len(expected["participants"]) == PLAN.pupils
        assert expected["recommendations"], "the season issued no recommendations"

        await rebuild_from_stores(
            rebuilt, PortfolioProjection(), stores, event_types=published, fold_memory_mib=64
        )
        assert await dump(rebuilt) == expected
        assert await rebuilt.checkpoints(PROJECTION_NAME) == await live.checkpoints(PROJECTION_NAME)
        assert await rebuilt.dead_letters(PROJECTION_NAME) == []
    finally:
        await live.close()
        await rebuilt.close()
        for schema in schemas:
            await drop_schema(database_url, schema)
        for store in stores.values():
            await store.close()
