"""The portfolio rebuilt by a fold (ADR 0076) on PostgreSQL: the history folded in a private
SQLite fold by the same handlers, copied with COPY and switched, leaves exactly the rows a live
catch-up of the same stores builds, keeps the erased pupil erased, and a second rebuild over the
first replaces it with the same rows; `bvb portfolio rebuild` folds on PostgreSQL."""

import io
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bilet.crypto import FieldCipher
from bilet.projections import EmbeddedFeed, rebuild_from_stores
from bilet.projections import folded as folded_rebuild
from bilet.projections.postgres import PostgresReadModel, drop_schema
from bilet.stores import open_key_store, open_read_model, open_source_stores
from bilet_portfolio import cli
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.testing import assert_erased_pupil_kept_out, dump, record_world
from bilet_portfolio.settings import PROJECTION_NAME, SOURCES, PortfolioSettings

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder

pytestmark = pytest.mark.integration


async def test_a_folded_rebuild_builds_what_a_live_catch_up_builds(
    database_url: str,
    make_settings: Any,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
) -> None:
    settings: PortfolioSettings = make_settings()
    stores = await open_source_stores(settings, SOURCES)
    keys = await open_key_store(settings)
    catalogue.cipher = FieldCipher(keys)
    schemas = [f"pfl{uuid.uuid4().hex[:12]}", f"pff{uuid.uuid4().hex[:12]}"]
    live = await PostgresReadModel.open(database_url, schema=schemas[0])
    rebuilt = await PostgresReadModel.open(database_url, schema=schemas[1])
    try:
        await record_world(stores, catalogue, ids, recorder)
        await EmbeddedFeed(live, PortfolioProjection(), stores).catch_up({})
        expected = await dump(live)
        assert expected["participants"], "the history built no portfolio"

        # Small transactions and pages, so the fold commits many times before the copy.
        await rebuild_from_stores(
            rebuilt,
            PortfolioProjection(),
            stores,
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
        await rebuild_from_stores(rebuilt, PortfolioProjection(), stores, fold_memory_mib=16)
        assert await dump(rebuilt) == expected
    finally:
        await live.close()
        await rebuilt.close()
        for schema in schemas:
            await drop_schema(database_url, schema)
        await keys.close()
        for store in stores.values():
            await store.close()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[str]:
    """A database of its own: the CLI opens the read model under its fixed schema name."""
    name = f"bvb_fold_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_the_rebuild_command_folds_into_postgresql(
    database: str,
    make_settings: Any,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copies: list[str] = []  # the schemas the fold was copied into (the real copy runs)
    copy_shadow = folded_rebuild.copy_shadow

    async def counted(fold: Any, connection: Any, schema: str, projection: Any) -> None:
        await copy_shadow(fold, connection, schema, projection)
        copies.append(schema)

    monkeypatch.setattr(folded_rebuild, "copy_shadow", counted)
    settings: PortfolioSettings = make_settings(
        database_url=database, read_model="postgres", key_store="sqlite"
    )
    stores = await open_source_stores(settings, SOURCES)
    keys = await open_key_store(settings)
    catalogue.cipher = FieldCipher(keys)
    read_model = await open_read_model(settings, "portfolio")
    try:
        await record_world(stores, catalogue, ids, recorder)
        await EmbeddedFeed(read_model, PortfolioProjection(), stores).catch_up({})
        before = await dump(read_model)

        out = io.StringIO()
        assert await cli.rebuild(settings, "stores", out) == 0
        assert copies == ["bvb_portfolio_rm"]
        assert await dump(read_model) == before
        text = out.getvalue()
        assert "100%" in text
        assert "switched live" in text
    finally:
        await read_model.close()
        await keys.close()
        for store in stores.values():
            await store.close()
