"""Both runtimes issue the same recommendations for the same history: the faust worker reading the
season from real Kafka topics into PostgreSQL, and the embedded projection reading it from event
stores (`make run`). Compared: who gets a set, and each pupil's set in force (the sets before it
depend on how the topics interleave, so `supersedes` is compared as a chain, not across runtimes).
"""

from pathlib import Path

import pytest

from bilet.eventstore.memory import InMemoryEventStore
from bilet_recommender.issuing_testing import (
    append_all,
    build_season,
    check_chain,
    issued,
    latest,
    run_embedded,
)

from .conftest import Harness, stop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_the_worker_and_the_embedded_projection_issue_the_same_sets(
    harness: Harness, tmp_path: Path
) -> None:
    season = await build_season(harness.keystore, 40)
    reference = InMemoryEventStore()
    read_model = await run_embedded(tmp_path / "embedded", season, harness.keystore, reference)
    await read_model.close()
    expected = latest(await issued(reference))
    assert set(expected) == season.recommended

    await append_all(harness.store, season.opportunities)
    await harness.produce_catalogue(season)
    worker = harness.start_worker(tmp_path / "worker.log")
    try:
        catalogue = len(season.career_events) + len(season.opportunities)

        async def catalogue_in() -> bool:
            return await harness.catalogue_size() == catalogue

        await harness.wait_for("the catalogue in the read model", catalogue_in, 120)
        await harness.produce_facts(season)

        async def all_issued() -> bool:
            return latest(await harness.sets()) == expected

        await harness.wait_for("the embedded runtime's sets", all_issued, 180)
    finally:
        stop(worker)
    sets = await harness.sets()
    for events in sets.values():
        check_chain(events)
    assert latest(sets) == expected
