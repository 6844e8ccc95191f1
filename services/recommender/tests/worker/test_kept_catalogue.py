"""The issuing step's catalogue kept across batches (`KeptCatalogue`, ADR 0104): its rows are
read once and kept until a commit of the read side may have changed an offer; a coordinator's
new club reaches the next batch's sets; a read in flight when the change is heard does not
survive it; a read model that hears only its own process keeps nothing across batches; on
PostgreSQL another process's offer reaches it by NOTIFY."""

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from bilet.eventstore import EventStore
from bilet.eventstore.memory import InMemoryEventStore
from bilet.pgschema import drop_schema
from bilet.projections import EmbeddedFeed, ReadModel, Row
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet_recommender.adapters.evidence_projection import (
    EVIDENCE_PROJECTION,
    OFFERS_CHANGED,
    OWN_EVENT_TYPES,
    PROJECTION,
    RECOMMENDER,
    TxCatalogue,
)
from bilet_recommender.adapters.issuing_batch import KeptCatalogue
from bilet_recommender.domain.offers import Opportunities
from bilet_recommender.issuing_testing import _course, append_all
from bilet_recommender.testing import NOW

REGION = UUID("6f1b0c4e-0000-4000-8000-000000000001")


class Side:
    """The worker's read side for the recommender's own store: offers registered there are
    applied to the read model by the evidence projection (as `worker.read_side` runs it)."""

    def __init__(self, read_model: ReadModel) -> None:
        self.store: EventStore = InMemoryEventStore()
        self.feed = EmbeddedFeed(
            read_model, EVIDENCE_PROJECTION, {RECOMMENDER: self.store}, event_types=OWN_EVENT_TYPES
        )

    async def club(self) -> UUID:
        """A coordinator registers a club in `REGION`; the read side applies it."""
        opportunity_id = uuid.uuid4()
        await append_all(self.store, [_course(opportunity_id, REGION)])
        await self.feed.catch_up({})
        return opportunity_id


async def offered(catalogue: KeptCatalogue) -> set[UUID]:
    """What a batch's set in `REGION` is offered (the batch's first step, then the read)."""
    await catalogue.next_batch()
    found = await catalogue.opportunities(REGION, (), NOW)
    return {offer.opportunity_id for offer in found.offers}


async def test_rows_are_kept_until_an_offer_changes(tmp_path: Path) -> None:
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    side = Side(read_model)
    catalogue = KeptCatalogue(read_model)
    catalogue.keeps = True  # as on PostgreSQL: its own read side's commits are heard in process
    try:
        first = await side.club()
        assert await offered(catalogue) == {first}
        rows, dropped = catalogue.rows, catalogue.dropped
        # Batches without an offer written read nothing again, whatever else commits.
        read_model.announce(PROJECTION, {str(uuid.uuid4())})  # a participant's evidence
        read_model.announce("recommender_insights", None)  # another projection
        assert await offered(catalogue) == {first}
        assert catalogue.rows is rows
        assert catalogue.dropped == dropped

        second = await side.club()  # the read side's commit names OFFERS_CHANGED
        assert catalogue.dropped == dropped + 1
        assert await offered(catalogue) == {first, second}
        assert catalogue.rows is not rows

        read_model.announce(PROJECTION, None)  # a rebuild's switch, a lost listener
        assert catalogue.dropped == dropped + 2
    finally:
        catalogue.close()
        await read_model.close()


async def test_without_other_processes_heard_each_batch_reads_again(tmp_path: Path) -> None:
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    side = Side(read_model)
    catalogue = KeptCatalogue(read_model)
    try:
        assert catalogue.keeps is False  # SQLite hears its own process only
        first = await side.club()
        assert await offered(catalogue) == {first}
        rows = catalogue.rows
        assert await offered(catalogue) == {first}
        assert catalogue.rows is not rows
    finally:
        catalogue.close()
        await read_model.close()


async def test_a_lost_listener_drops_the_rows_again_once_it_listens(tmp_path: Path) -> None:
    # Review of #15, finding 1: the loss dropped the rows, the rest of its batch read them again
    # while nothing listened, and another process's offer committed then was heard by no one.
    ours = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    theirs = await SqliteReadModel.open(tmp_path / "rm.sqlite3")  # heard by no one, as lost
    catalogue = KeptCatalogue(ours)
    catalogue.keeps = True
    try:
        side = Side(theirs)
        first = await side.club()
        await catalogue.next_batch()
        ours.announce()  # the listening connection lost mid-batch: "anything may have changed"
        found = await catalogue.opportunities(REGION, (), NOW)  # the rest of that batch
        assert {offer.opportunity_id for offer in found.offers} == {first}
        second = await side.club()  # committed before it listens again
        assert await offered(catalogue) == {first, second}
        rows = catalogue.rows
        assert await offered(catalogue) == {first, second}
        assert catalogue.rows is rows  # once only: kept again after that
    finally:
        catalogue.close()
        await theirs.close()
        await ours.close()


async def test_rows_are_kept_at_most_a_while_whatever_was_heard(tmp_path: Path) -> None:
    # Finding 2: a worker of an older version writes offers without naming OFFERS_CHANGED.
    ours = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    theirs = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    now = [100.0]
    catalogue = KeptCatalogue(ours, at_most=30.0, clock=lambda: now[0])
    catalogue.keeps = True
    try:
        side = Side(theirs)
        first = await side.club()
        assert await offered(catalogue) == {first}
        second = await side.club()  # unheard
        now[0] += 29.0
        assert await offered(catalogue) == {first}  # kept
        now[0] += 1.0
        assert await offered(catalogue) == {first, second}
        now[0] += 29.0
        third = await side.club()
        assert await offered(catalogue) == {first, second}  # aged from the last drop
        now[0] += 1.0
        assert await offered(catalogue) == {first, second, third}
    finally:
        catalogue.close()
        await theirs.close()
        await ours.close()


class HeldReads:
    """Reads that wait until released: a read in flight while a change is heard."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = list(rows)
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        self.started.set()
        await self.release.wait()
        return self.rows

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return None


async def test_a_read_in_flight_when_an_offer_changes_is_not_kept(tmp_path: Path) -> None:
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    side = Side(read_model)
    catalogue = KeptCatalogue(read_model)
    catalogue.keeps = True
    try:
        await side.club()
        async with read_model.query(EVIDENCE_PROJECTION) as tx:
            old_rows = await tx.fetch("SELECT kind, state FROM {rec_offers}")
        held = HeldReads(old_rows)
        catalogue.rows = TxCatalogue(held)
        reading = asyncio.create_task(catalogue.opportunities(REGION, (), NOW))
        await held.started.wait()
        second = await side.club()  # committed and heard while the read is in flight
        held.release.set()
        assert second not in {o.opportunity_id for o in (await reading).offers}
        # What it read went with the rows dropped: the next read sees the new club.
        assert catalogue.built == {}
        assert second in await offered(catalogue)
    finally:
        catalogue.close()
        await read_model.close()


class CountedReads:
    """Reads that count themselves and wait until released; the first `failing` region reads
    fail once released."""

    def __init__(self, rows: Sequence[Row], failing: int = 0) -> None:
        self.rows = list(rows)
        self.failing = failing
        self.regions = 0
        self.offers = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        self.regions += 1
        self.started.set()
        await self.release.wait()
        if self.failing:
            self.failing -= 1
            raise ConnectionError("the read model went away")
        return self.rows

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        self.offers += 1
        await self.release.wait()
        return None


async def club_rows(tmp_path: Path) -> list[Row]:
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    try:
        await Side(read_model).club()
        async with read_model.query(EVIDENCE_PROJECTION) as tx:
            return await tx.fetch("SELECT kind, state FROM {rec_offers}")
    finally:
        await read_model.close()


async def test_sets_issued_side_by_side_wait_for_one_read(tmp_path: Path) -> None:
    # Review of #15, finding 3: after a drop, a batch's 50 sets of one region made 50 reads.
    reads = CountedReads(await club_rows(tmp_path))
    catalogue = TxCatalogue(reads)
    attended = [uuid.uuid4()]
    sets = [asyncio.create_task(catalogue.opportunities(REGION, attended, NOW)) for _ in range(50)]
    await reads.started.wait()  # every task has begun: they were all ready before this
    reads.release.set()
    found = await asyncio.gather(*sets)
    assert (reads.regions, reads.offers) == (1, 1)
    assert len({f.offers for f in found}) == 1
    assert len(found[0].offers) == 1
    await catalogue.opportunities(REGION, attended, NOW)  # kept: no read
    assert (reads.regions, reads.offers) == (1, 1)


async def test_a_read_that_fails_is_read_again_by_those_waiting_for_it(tmp_path: Path) -> None:
    reads = CountedReads(await club_rows(tmp_path), failing=1)
    catalogue = TxCatalogue(reads)
    sets = [asyncio.create_task(catalogue.opportunities(REGION, (), NOW)) for _ in range(3)]
    await reads.started.wait()
    reads.release.set()
    outcomes = await asyncio.gather(*sets, return_exceptions=True)
    assert isinstance(outcomes[0], ConnectionError)  # the read's own caller fails, as before
    assert [len(o.offers) for o in outcomes[1:] if isinstance(o, Opportunities)] == [1, 1]
    assert reads.regions == 2  # one of the two waiting read again, the other waited for it


async def test_postgres_hears_another_processes_offer(database_url: str) -> None:
    schema = f"t_rec_kept_{uuid.uuid4().hex[:10]}"
    ours = await PostgresReadModel.open(database_url, schema=schema)
    theirs = await PostgresReadModel.open(database_url, schema=schema)  # another replica
    catalogue = KeptCatalogue(ours)
    try:
        assert catalogue.keeps is True
        side = Side(theirs)
        first = await side.club()
        assert await offered(catalogue) == {first}  # listening from here on
        rows = catalogue.rows
        assert await offered(catalogue) == {first}
        assert catalogue.rows is rows

        dropped = asyncio.Event()
        with ours.signals.listen(PROJECTION, lambda keys: dropped.set()):
            second = await side.club()  # committed by the other read model: NOTIFY
            await asyncio.wait_for(dropped.wait(), 60)  # bounded; the NOTIFY's way
        assert catalogue.dropped >= 1
        assert await offered(catalogue) == {first, second}
    finally:
        catalogue.close()
        await theirs.close()
        await ours.close()
        await drop_schema(database_url, schema)


def test_offers_changed_is_no_participant_key() -> None:
    assert OFFERS_CHANGED.split() == [OFFERS_CHANGED]  # sent by name in a NOTIFY's payload
    assert not _is_uuid(OFFERS_CHANGED)


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


async def test_an_offer_written_while_a_read_is_in_flight_forgets_the_rows_kept(
    tmp_path: Path,
) -> None:
    # ADR 0115's review: the read in flight may give the row as it was before the write, so
    # `wrote` cannot put the written row into what it will keep; it forgets everything.
    reads = CountedReads(await club_rows(tmp_path))
    catalogue = TxCatalogue(reads)
    kind, state = reads.rows[0]
    reading = asyncio.create_task(catalogue.opportunities(REGION, (), NOW))
    await reads.started.wait()
    catalogue.wrote(str(uuid.uuid4()), kind, str(REGION), state)  # a new club, mid-read
    reads.release.set()
    assert len((await reading).offers) == 1  # the read's own caller has what it read
    await catalogue.opportunities(REGION, (), NOW)
    assert reads.regions == 2  # nothing of the read in flight was kept: read again
