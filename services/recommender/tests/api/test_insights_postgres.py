"""The insights projection on the real PostgreSQL (production's read model, in a schema of its
own), fed in-process from stores holding a season's facts: the same counts as on SQLite."""

import uuid
from pathlib import Path

import pytest

from bilet.contracts.catalogue.identity import ParticipantRegistered, SchoolRegistered
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import EventStore
from bilet.eventstore.memory import InMemoryEventStore
from bilet.pgschema import drop_schema
from bilet.projections import EmbeddedFeed, ReadModel
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet_recommender.adapters.evidence_projection import FEED_EVENT_TYPES, issuing_projection
from bilet_recommender.adapters.insights import ReadModelInsights
from bilet_recommender.adapters.insights_projection import INSIGHTS
from bilet_recommender.issuing_testing import SOURCES, append_all, build_season
from bilet_recommender.testing import NOW

pytestmark = pytest.mark.integration


async def _stores(tmp_path: Path) -> tuple[dict[str, EventStore], list[uuid.UUID]]:
    """A season of 40 pupils in two regions, their schools registered; the recommender's sets
    issued by the embedded issuing projection (so the leading environments are counted)."""
    keystore = InMemoryKeyStore()
    season = await build_season(keystore, 40)
    sources: dict[str, EventStore] = {name: InMemoryEventStore() for name in SOURCES}
    regions = []
    for event in season.facts["identity"]:
        assert isinstance(event, ParticipantRegistered)
        regions.append(event.region_id)
        school = SchoolRegistered(
            school_id=event.school_id,
            region_id=event.region_id,
            name="МОУ «СОШ»",
            municipality="Луга",
        )
        await append_all(sources["identity"], [school])
    for name in SOURCES:
        await append_all(sources[name], season.facts[name])
    recommender = InMemoryEventStore()
    await append_all(recommender, season.opportunities)
    issuing_model = await SqliteReadModel.open(tmp_path / "issuing.sqlite3")
    try:
        issuing = EmbeddedFeed(
            issuing_model,
            issuing_projection(recommender, keystore, lambda: NOW),
            {**sources, "recommender": recommender},
            event_types=FEED_EVENT_TYPES,
        )
        await issuing.catch_up({})
    finally:
        await issuing_model.close()
    return {**sources, "recommender": recommender}, sorted(set(regions), key=str)


async def _counts(
    read_model: ReadModel, sources: dict[str, EventStore], regions: list[uuid.UUID]
) -> list[list[str]]:
    await EmbeddedFeed(read_model, INSIGHTS, sources).catch_up({})
    insights = ReadModelInsights(read_model)
    return [sorted(map(repr, await insights.counts(region))) for region in regions]


async def test_postgres_counts_as_sqlite_does(database_url: str, tmp_path: Path) -> None:
    sources, regions = await _stores(tmp_path)
    sqlite = await SqliteReadModel.open(tmp_path / "insights.sqlite3")
    schema = f"t_rec_insights_{uuid.uuid4().hex[:10]}"
    postgres = await PostgresReadModel.open(database_url, schema=schema)
    try:
        on_sqlite = await _counts(sqlite, sources, regions)
        on_postgres = await _counts(postgres, sources, regions)
        assert on_postgres == on_sqlite
        assert all(on_sqlite), "every region has counts"
        assert any("leading_environment" in row for rows in on_sqlite for row in rows)
    finally:
        await sqlite.close()
        await postgres.close()
        await drop_schema(database_url, schema)
