"""The portfolio rebuilt in long transactions (ADR 0068) on PostgreSQL: the rows are exactly the
ones a live catch-up of the same stores builds, and the erased pupil stays erased."""

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from bilet.crypto import FieldCipher
from bilet.projections import EmbeddedFeed, rebuild_from_stores
from bilet.projections import embedded as embedded_feed
from bilet.projections.merged import apply_merged
from bilet.projections.postgres import PostgresReadModel, drop_schema
from bilet.stores import open_key_store, open_source_stores
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.testing import assert_erased_pupil_kept_out, dump, record_world
from bilet_portfolio.settings import SOURCES, PortfolioSettings

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("long_transactions", [4, 5000])
async def test_a_rebuild_in_long_transactions_builds_what_a_live_catch_up_builds(
    long_transactions: int,
    database_url: str,
    make_settings: Any,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    together: list[int] = []  # events of each long transaction that committed

    async def counted(projector: Any, runs: Any, *args: Any) -> dict[str, int] | None:
        moved = await apply_merged(projector, runs, *args)
        if moved is not None:
            together.append(sum(len(run.events) for run in runs))
        return moved

    monkeypatch.setattr(embedded_feed, "apply_merged", counted)
    settings: PortfolioSettings = make_settings()
    stores = await open_source_stores(settings, SOURCES)
    keys = await open_key_store(settings)
    catalogue.cipher = FieldCipher(keys)
    schemas = [f"pfl{uuid.uuid4().hex[:12]}", f"pfr{uuid.uuid4().hex[:12]}"]
    live = await PostgresReadModel.open(database_url, schema=schemas[0])
    rebuilt = await PostgresReadModel.open(database_url, schema=schemas[1])
    try:
        await record_world(stores, catalogue, ids, recorder)
        await EmbeddedFeed(live, PortfolioProjection(), stores).catch_up({})
        await rebuild_from_stores(
            rebuilt, PortfolioProjection(), stores, long_transactions=long_transactions
        )
        expected = await dump(live)
        assert await dump(rebuilt) == expected
        assert together, "no long transaction committed"
        assert max(together) >= min(long_transactions, 30)

        await assert_erased_pupil_kept_out(rebuilt, ids)
    finally:
        await live.close()
        await rebuilt.close()
        for schema in schemas:
            await drop_schema(database_url, schema)
        await keys.close()
        for store in stores.values():
            await store.close()
