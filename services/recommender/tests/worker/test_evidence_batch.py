"""The embedded projection keeps a transaction's evidence in memory (`EvidenceBatch`, ADR 0088):
each participant's row read once and written once per transaction, their last set read from
the stream once. Applied in batches or one fact per transaction, the same season must issue the
very same sets and leave the very same evidence."""

from dataclasses import dataclass
from pathlib import Path

from bilet.crypto import InMemoryKeyStore, KeyStore
from bilet.eventstore import EventStore, RecordedEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections import EmbeddedFeed
from bilet.projections.sqlite import SqliteReadModel
from bilet_recommender.adapters.evidence_projection import (
    FEED_EVENT_TYPES,
    RECOMMENDER,
    ReadModelEvidence,
    issuing_projection,
)
from bilet_recommender.application.issuing import RECOMMENDATIONS_CATEGORY
from bilet_recommender.domain.evidence import Evidence
from bilet_recommender.issuing_testing import (
    EVENTS,
    IDENTITY,
    SOURCES,
    Season,
    append_all,
    build_season,
    check_chain,
    issued,
)
from bilet_recommender.testing import NOW


class CountingStore(InMemoryEventStore):
    """The recommender's store, counting the reads of a participant's last set (`in_force`)."""

    def __init__(self) -> None:
        super().__init__()
        self.last_set_reads = 0

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        if backwards and stream_id.startswith(f"{RECOMMENDATIONS_CATEGORY}-"):
            self.last_set_reads += 1
        return await super().read_stream(stream_id, from_version, backwards=backwards, limit=limit)


@dataclass
class Run:
    recommender: CountingStore
    evidence: dict[str, Evidence | None]


async def run(tmp_path: Path, season: Season, keystore: KeyStore, batch_size: int) -> Run:
    """The season through the issuing projection, `batch_size` events a transaction at most."""
    recommender = CountingStore()
    sources: dict[str, EventStore] = {source: InMemoryEventStore() for source in SOURCES}
    await append_all(sources[EVENTS], season.career_events)
    await append_all(sources[IDENTITY], season.schools)
    await append_all(recommender, season.opportunities)
    for source in SOURCES:
        await append_all(sources[source], season.facts[source])
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    try:
        feed = EmbeddedFeed(
            read_model,
            issuing_projection(recommender, keystore, lambda: NOW),
            {**sources, RECOMMENDER: recommender},
            event_types=FEED_EVENT_TYPES,
            batch_size=batch_size,
        )
        for _ in range(2):  # the second brings the sets back: nothing new is issued
            await feed.catch_up({})
        evidence = ReadModelEvidence(read_model)
        kept = {str(p): await evidence.evidence(p) for p in season.pupils}
    finally:
        await read_model.close()
    return Run(recommender, kept)


async def test_facts_in_one_transaction_issue_and_keep_what_one_per_transaction_does(
    tmp_path: Path,
) -> None:
    keystore = InMemoryKeyStore()
    season = await build_season(keystore, 12, seed=3)
    alone = await run(tmp_path / "alone", season, keystore, batch_size=1)
    batched = await run(tmp_path / "batched", season, keystore, batch_size=500)

    sets = await issued(batched.recommender)
    assert set(sets) == season.recommended
    for events in sets.values():
        check_chain(events)
    assert sets == await issued(alone.recommender)
    assert batched.evidence == alone.evidence
    assert all(e is not None for e in batched.evidence.values())
    # One fact a transaction reads the last set for every fact that may issue; a batch once a
    # participant.
    assert 0 < batched.recommender.last_set_reads < alone.recommender.last_set_reads
