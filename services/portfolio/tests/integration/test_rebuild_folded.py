"""The portfolio rebuilt by a fold (ADR 0076) on PostgreSQL: the history folded in a private
SQLite fold by the same handlers, copied with COPY and switched, leaves exactly the rows a live
catch-up of the same stores builds, keeps the erased pupil erased, and a second rebuild over the
first replaces it with the same rows; `bvb portfolio rebuild` folds on PostgreSQL."""

import io
from typing import TYPE_CHECKING, Any

import pytest

from bilet.projections import folded as folded_rebuild
from bilet.projections import rebuild_from_stores
from bilet_portfolio import cli
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.projection.recommender import LeftSetRefused
from bilet_portfolio.adapters.testing import assert_erased_pupil_kept_out, dump
from bilet_portfolio.settings import PROJECTION_NAME, SOURCES

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids
    from services.portfolio.tests.integration.conftest import WorldFactory

pytestmark = pytest.mark.integration


async def test_a_folded_rebuild_builds_what_a_live_catch_up_builds(
    database_url: str, recorded_world: "WorldFactory", ids: "Ids"
) -> None:
    world = await recorded_world()
    live = await world.postgres_read_model(database_url)
    rebuilt = await world.postgres_read_model(database_url)
    expected = await world.caught_up(live)
    assert expected["participants"], "the history built no portfolio"

    # Small transactions and pages, so the fold commits many times before the copy.
    await rebuild_from_stores(
        rebuilt,
        PortfolioProjection(),
        world.stores,
        fold_memory_mib=16,
        long_transactions=7,
        batch_size=5,
    )
    assert await dump(rebuilt) == expected
    assert await rebuilt.checkpoints(PROJECTION_NAME) == await live.checkpoints(PROJECTION_NAME)
    assert await rebuilt.dead_letters(PROJECTION_NAME) == []
    for source in SOURCES:
        assert await rebuilt.position(PROJECTION_NAME, source) == await live.position(
            PROJECTION_NAME, source
        )

    await assert_erased_pupil_kept_out(rebuilt, ids)

    # Rebuilt again over the folded tables (the shadow made anew, the copy replacing it).
    await rebuild_from_stores(rebuilt, PortfolioProjection(), world.stores, fold_memory_mib=16)
    assert await dump(rebuilt) == expected


async def test_the_rebuild_command_folds_into_postgresql(
    database: str, recorded_world: "WorldFactory", monkeypatch: pytest.MonkeyPatch
) -> None:
    copies: list[str] = []  # the schemas the fold was copied into (the real copy runs)
    copy_shadow = folded_rebuild.copy_shadow

    async def counted(fold: Any, connection: Any, schema: str, projection: Any) -> None:
        await copy_shadow(fold, connection, schema, projection)
        copies.append(schema)

    monkeypatch.setattr(folded_rebuild, "copy_shadow", counted)
    world = await recorded_world(database_url=database, read_model="postgres", key_store="sqlite")
    read_model = await world.read_model()
    before = await world.caught_up(read_model)

    out = io.StringIO()
    assert await cli.rebuild(world.settings, "stores", out) == 0
    assert copies == ["bvb_portfolio_rm"]
    assert await dump(read_model) == before
    text = out.getvalue()
    assert "100%" in text
    assert "switched live" in text


async def test_a_rebuild_that_stops_says_why_and_leaves_the_live_read_model(
    database: str, recorded_world: "WorldFactory", monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold refusing a season's last set (ADR 0107) reaches the operator as one line and exit
    status 1, not a traceback; nothing was switched."""
    world = await recorded_world(database_url=database, read_model="postgres", key_store="sqlite")
    read_model = await world.read_model()
    before = await world.caught_up(read_model)

    async def refused(*args: Any, **kwargs: Any) -> None:
        raise LeftSetRefused("00000000-0000-0000-0000-000000000001", 2026, "a field refused")

    monkeypatch.setattr(cli, "rebuild_from_stores", refused)
    out = io.StringIO()
    assert await cli.rebuild(world.settings, "stores", out) == 1
    assert "rebuild stopped, the live read model unchanged" in out.getvalue()
    assert "BVB_PORTFOLIO_REBUILD_FOLD_MIB=0" in out.getvalue()
    assert await dump(read_model) == before
