"""The portfolio rebuilt in long transactions (ADR 0068) on PostgreSQL: the rows are exactly the
ones a live catch-up of the same stores builds, and the erased pupil stays erased."""

from typing import TYPE_CHECKING, Any

import pytest

from bilet.projections import embedded as embedded_feed
from bilet.projections import rebuild_from_stores
from bilet.projections.merged import apply_merged
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.testing import assert_erased_pupil_kept_out, dump

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids
    from services.portfolio.tests.integration.conftest import WorldFactory

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("long_transactions", [4, 5000])
async def test_a_rebuild_in_long_transactions_builds_what_a_live_catch_up_builds(
    long_transactions: int,
    database_url: str,
    recorded_world: "WorldFactory",
    ids: "Ids",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    together: list[int] = []  # events of each long transaction that committed

    async def counted(projector: Any, runs: Any, *args: Any) -> dict[str, int] | None:
        moved = await apply_merged(projector, runs, *args)
        if moved is not None:
            together.append(sum(len(run.events) for run in runs))
        return moved

    monkeypatch.setattr(embedded_feed, "apply_merged", counted)
    world = await recorded_world()
    live = await world.postgres_read_model(database_url)
    rebuilt = await world.postgres_read_model(database_url)
    expected = await world.caught_up(live)
    await rebuild_from_stores(
        rebuilt, PortfolioProjection(), world.stores, long_transactions=long_transactions
    )
    assert await dump(rebuilt) == expected
    assert together, "no long transaction committed"
    assert max(together) >= min(long_transactions, 30)

    await assert_erased_pupil_kept_out(rebuilt, ids)
