"""Two facts about one pupil applied side by side on PostgreSQL (the Kafka feed applies its
partitions in parallel transactions; a pupil's facts come from four topics): the later one waits
for the first and folds onto it, so neither is lost."""

import asyncio
import uuid
from uuid import uuid4

import pytest

from bilet.pgschema import drop_schema
from bilet.projections.port import SqlRenderer
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.readmodel.schema import layout_of
from bilet_recommender.adapters.evidence_projection import (
    EVIDENCE_PROJECTION,
    EvidenceProjection,
    ReadModelEvidence,
)
from bilet_recommender.issuing_testing import recorded
from bilet_recommender.testing import registered, verified

pytestmark = pytest.mark.integration


async def test_a_fact_applied_beside_another_about_the_same_pupil_keeps_both(
    database_url: str,
) -> None:
    pupil, region = uuid4(), uuid4()
    registration, consent = recorded([registered(pupil, region, grade=9), verified(pupil)])
    schema = f"t_rec_lock_{uuid.uuid4().hex[:10]}"
    read_model = await PostgresReadModel.open(database_url, schema=schema)
    try:
        await read_model.install(EVIDENCE_PROJECTION)
        tables = layout_of(EVIDENCE_PROJECTION, read_model.dialect).tables
        projection = EvidenceProjection()
        first_applied = asyncio.Event()
        release_first = asyncio.Event()

        async def first() -> None:
            async with read_model.transaction(SqlRenderer(read_model.dialect, tables)) as tx:
                await projection.apply(tx, registration)
                first_applied.set()
                await release_first.wait()  # still uncommitted while the second starts

        async def second() -> None:
            await first_applied.wait()
            async with read_model.transaction(SqlRenderer(read_model.dialect, tables)) as tx:
                await projection.apply(tx, consent)

        first_task = asyncio.create_task(first())
        second_task = asyncio.create_task(second())
        try:
            await first_applied.wait()
            await asyncio.sleep(0.2)  # let the second reach the pupil's row (it must wait there)
            waited = not second_task.done()
        finally:
            release_first.set()
            await asyncio.wait_for(asyncio.gather(first_task, second_task), timeout=30)
        assert waited, "the second fact did not wait for the first one's row"

        evidence = await ReadModelEvidence(read_model).evidence(pupil)
        assert evidence is not None
        assert (evidence.region_id, evidence.grade) == (region, 9)  # the registration
        assert evidence.consent is not None  # and the consent
    finally:
        await read_model.close()
        await drop_schema(database_url, schema)
