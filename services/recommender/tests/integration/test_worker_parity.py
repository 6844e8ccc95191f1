"""Both runtimes issue the same recommendations for the same history: the faust worker reading the
season from real Kafka topics into PostgreSQL, and the embedded projection reading it from event
stores (`make run`). Compared: who gets a set, and each pupil's set in force (the sets before it
depend on how the topics interleave, so `supersedes` is compared as a chain, not across runtimes).
"""

from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest

from bilet.eventstore.memory import InMemoryEventStore
from bilet.kafka import KafkaConnection
from bilet.projections import ReadModel
from bilet_recommender.adapters.insights import ReadModelInsights
from bilet_recommender.issuing_testing import (
    Season,
    append_all,
    build_season,
    check_chain,
    clean_replay,
    issued,
    latest,
    run_embedded,
)

from .conftest import Harness, stop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


async def test_the_worker_and_the_embedded_projection_issue_the_same_sets(
    harness: Harness, tmp_path: Path
) -> None:
    season = await build_season(harness.keystore, 40)
    reference = InMemoryEventStore()
    read_model = await run_embedded(tmp_path / "embedded", season, harness.keystore, reference)
    try:
        expected_insights = [await insights(read_model, r) for r in regions(season)]
    finally:
        await read_model.close()
    expected = latest(await issued(reference))
    assert set(expected) == season.recommended

    await append_all(harness.store, season.opportunities)
    await harness.produce_catalogue(season)
    worker = harness.start_worker(tmp_path / "worker.log")
    try:
        await harness.wait_for_catalogue(season, 120)
        # A record no contract reads, amid the facts: left aside (ADR 0085), never a stop.
        await harness.produce_unreadable()
        await harness.produce_facts(season)

        async def all_issued() -> bool:
            return latest(await harness.sets()) == expected

        await harness.wait_for("the embedded runtime's sets", all_issued, 180)

        # The worker feeds the coordinators' insights too (its faust windows and kernel feed,
        # ADR 0048), so they are awaited while it runs: the same counts (weeks aside: each feed
        # dates a fact by its recording, and the topics carry the season's dates).
        async def same_insights() -> bool:
            got = [await insights(harness.read_model, r) for r in regions(season)]
            return got == expected_insights

        await harness.wait_for("the embedded runtime's insights", same_insights, 120)
    finally:
        stop(worker)
    assert worker.returncode == 0, harness.worker_errors()
    log = (tmp_path / "worker.log").read_text(errors="replace")
    # Both agents met it (its key names no participant: one partition of each repartition).
    assert log.count("a record no contract reads is left aside") == 2, harness.worker_errors()
    sets = await harness.sets()
    for events in sets.values():
        check_chain(events)
    assert latest(sets) == expected
    assert all(expected_insights)
    assert [await insights(harness.read_model, r) for r in regions(season)] == expected_insights


def regions(season: Season) -> list[UUID]:
    return sorted({school.region_id for school in season.schools}, key=str)


async def insights(read_model: ReadModel, region_id: UUID) -> dict[tuple[str, str, str], int]:
    """A region's counts per municipality, metric and detail, over all weeks."""
    totals: Counter[tuple[str, str, str]] = Counter()
    for count in await ReadModelInsights(read_model).counts(region_id):
        totals[(count.municipality, count.metric, count.detail)] += count.pupils
    return dict(totals)


async def test_the_worker_issues_over_tls_and_scram(
    harness: Harness, scram_kafka: KafkaConnection, tmp_path: Path
) -> None:
    """Production's Kafka (ADR 0022: TLS verified, SCRAM-SHA-512, the password in a file) reaches
    faust's own clients through `broker_credentials`."""
    harness.worker_kafka = scram_kafka
    season = await build_season(harness.keystore, 6, seed=22)
    expected = await clean_replay(tmp_path / "embedded", season, harness.keystore)
    assert expected

    await append_all(harness.store, season.opportunities)
    await harness.produce_catalogue(season)
    worker = harness.start_worker(tmp_path / "worker.log")
    try:
        await harness.wait_for_catalogue(season, 120, "the catalogue over SASL_SSL")
        await harness.produce_facts(season)

        async def all_issued() -> bool:
            return latest(await harness.sets()) == expected

        await harness.wait_for("the sets over SASL_SSL", all_issued, 120)
    finally:
        stop(worker)
