"""The worker's batch step (`adapters/issuing_batch.py`, ADR 0047) without Kafka: a season taken in
batches issues the sets the embedded runtime issues one fact at a time; a batch delivered again
(the offsets not committed) folds nothing twice and appends nothing new, also when the crash fell
between the batch's append and its table write."""

import dataclasses
from pathlib import Path
from uuid import UUID

from bilet.contracts import decode
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.crypto import InMemoryKeyStore, KeyStore
from bilet.eventstore import EventStore
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections.sqlite import SqliteReadModel
from bilet_recommender.adapters.issuing_batch import (
    BatchOutcome,
    Delivered,
    KeptCatalogue,
    issue_batch,
)
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.application.issuing import Issuing
from bilet_recommender.domain.evidence import FACT_TYPES
from bilet_recommender.issuing_testing import (
    SOURCES,
    Season,
    build_season,
    check_chain,
    issued,
    latest,
    recorded,
    run_embedded,
)
from bilet_recommender.testing import NOW
from bilet_recommender.worker import FACTS

BATCH = 40


def deliveries(season: Season) -> list[Delivered]:
    """The season's facts about participants as the repartition topic hands them over: each
    source's records in order, the sources taken turn about."""
    per_source = [
        [r for r in recorded(season.facts[source]) if r.type in FACTS]
        for source in SOURCES
        if season.facts.get(source)
    ]
    out: list[Delivered] = []
    for index in range(max(len(records) for records in per_source)):
        for records in per_source:
            if index < len(records):
                fact = decode(records[index])
                assert isinstance(fact, FACT_TYPES)
                out.append(Delivered(records[index], fact))
    return out


class Worker:
    """The batch step over a dict for the faust table, with its own store."""

    def __init__(self, keystore: KeyStore, read_model: SqliteReadModel) -> None:
        self.store: EventStore = InMemoryEventStore()
        self.read_model = read_model
        self.table: dict[str, str] = {}
        self.issuing = Issuing(self.store, keystore, current_rules(), lambda: NOW)
        self.catalogue = KeptCatalogue(read_model)

    async def take(self, batch: list[Delivered], save: bool = True) -> BatchOutcome:
        outcome = await issue_batch(batch, self.table.get, self.issuing, self.store, self.catalogue)
        if save:
            self.table.update(outcome.saved)
        return outcome


async def reference_and_catalogue(
    tmp_path: Path, season: Season, keystore: KeyStore
) -> tuple[dict[UUID, RecommendationsIssued], SqliteReadModel]:
    """The embedded runtime's sets in force, and a read model holding the catalogue only."""
    reference = InMemoryEventStore()
    await (await run_embedded(tmp_path / "reference", season, keystore, reference)).close()
    expected = latest(await issued(reference))
    no_facts = dataclasses.replace(season, facts={source: [] for source in season.facts})
    catalogue = await run_embedded(tmp_path / "catalogue", no_facts, keystore, InMemoryEventStore())
    return expected, catalogue


def batches(items: list[Delivered]) -> list[list[Delivered]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


async def test_batches_issue_what_the_embedded_runtime_issues(tmp_path: Path) -> None:
    keystore = InMemoryKeyStore()
    season = await build_season(keystore, 40, seed=21)
    expected, catalogue = await reference_and_catalogue(tmp_path, season, keystore)
    worker = Worker(keystore, catalogue)
    try:
        items = deliveries(season)
        outcomes = [await worker.take(batch) for batch in batches(items)]
        sets = await issued(worker.store)
        assert latest(sets) == expected
        assert set(sets) == season.recommended
        for events in sets.values():
            check_chain(events)
        assert sum(o.folded for o in outcomes) == len(items)
        assert sum(o.issued for o in outcomes) == sum(len(e) for e in sets.values())

        # Everything delivered again (a rebalance before any commit): nothing folded or issued.
        head = await worker.store.head_position()
        again = [await worker.take(batch) for batch in batches(items)]
        assert sum(o.redelivered for o in again) == len(items)
        assert sum(o.folded for o in again) == 0
        assert all(o.saved == {} for o in again)
        assert await worker.store.head_position() == head
    finally:
        await catalogue.close()


async def test_a_batch_redelivered_after_its_append_issues_nothing_twice(tmp_path: Path) -> None:
    keystore = InMemoryKeyStore()
    season = await build_season(keystore, 30, seed=22)
    expected, catalogue = await reference_and_catalogue(tmp_path, season, keystore)
    worker = Worker(keystore, catalogue)
    try:
        killed_after_append = 0
        for batch in batches(deliveries(season)):
            first = await worker.take(batch, save=False)  # killed before the table's write
            killed_after_append += first.issued
            appended = await worker.store.head_position()
            await worker.take(batch)  # the redelivery: the same sets, the store's retry
            assert await worker.store.head_position() == appended
        assert killed_after_append > 0
        sets = await issued(worker.store)
        assert latest(sets) == expected
        for events in sets.values():
            check_chain(events)
    finally:
        await catalogue.close()
