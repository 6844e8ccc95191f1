"""In a rebuild's fold (ADR 0097) the portfolio leaves its participants' counts, versions and
documents, and all but the last recommendation set of each participant's season, until just
before the copy (`PortfolioProjection.before_copy`): the fold's tables must then hold exactly
what a live projection's hold, however the history was cut into transactions, and a fold
transaction rolled back must leave nothing of that work behind."""

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bilet.contracts import EventMetadata
from bilet.contracts.examples import EXAMPLES
from bilet.eventstore import RecordedEvent
from bilet.projections.folded import FoldReadModel
from bilet.projections.readmodel.schema import layout_of
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.testing import Recorded, apply_in_order, dump, world_history

if TYPE_CHECKING:
    from bilet.projections import ReadModelTx
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder

SET: str = "RecommendationsIssued"


class _RolledBack(Exception):
    pass


async def _live(tmp_path: Path, recorded: Recorded) -> SqliteReadModel:
    live = await SqliteReadModel.open(tmp_path / "live.sqlite3")
    await apply_in_order(live, recorded)
    return live


async def _fold(tmp_path: Path) -> FoldReadModel:
    return await FoldReadModel.open_fold(tmp_path / "fold.sqlite3", memory_mib=16)


async def _before_copy(fold: FoldReadModel, projection: PortfolioProjection | None = None) -> None:
    projection = projection or PortfolioProjection()
    await fold.do_left_work(projection, layout_of(projection, fold.dialect).renderer)


def _left_committed(fold: FoldReadModel) -> int:
    """Rows of work left, as a reader of the fold sees them: what the fold has committed."""
    count = 0
    for table in ("portfolio_left_sets", "portfolio_left_documents"):
        _, rows = fold.rows(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - constant names
        count += next(rows)[0]
        list(rows)  # to its end: the reader's statement done
    return count


async def _in_one_transaction(fold: FoldReadModel, recorded: Recorded) -> None:
    projection = PortfolioProjection()
    await fold.install(projection)
    async with fold.transaction(layout_of(projection, fold.dialect).renderer) as tx:
        for _, event in recorded:
            await projection.apply(tx, event)


async def test_a_fold_leaves_documents_until_the_copy_and_then_equals_the_live_rows(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    live = await _live(tmp_path, recorded)
    fold = await _fold(tmp_path)
    await apply_in_order(fold, recorded)  # one transaction per event: the most left
    left = await dump(fold)
    assert not left["portfolio_documents"]  # left for the copy, not rendered per transaction
    assert not left["recommendations"]
    await _before_copy(fold)
    expected = await dump(live)
    assert await dump(fold) == expected
    assert expected["portfolio_documents"]
    assert expected["recommendations"]
    await _before_copy(fold)  # nothing left twice: a second round changes nothing
    assert await dump(fold) == expected
    await fold.close()
    await live.close()


async def test_the_work_left_is_done_and_committed_a_chunk_at_a_time_and_equals_the_live_rows(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """One transaction for a round's left work held all of it in the fold's WAL until its
    commit (tens of GB at a million pupils): each chunk is committed with its removal."""
    recorded = await world_history(catalogue, ids, recorder)
    live = await _live(tmp_path, recorded)
    fold = await _fold(tmp_path)
    await apply_in_order(fold, recorded)
    seen: list[int] = []

    class Watched(PortfolioProjection):
        async def before_copy(self, tx: "ReadModelTx") -> bool:
            seen.append(_left_committed(fold))  # before this chunk: the earlier ones committed
            return await super().before_copy(tx)

    await _before_copy(fold, Watched(left_chunk=1))
    assert await dump(fold) == await dump(live)
    assert seen[0] > 3  # more rows left than one chunk holds: sets and documents
    assert seen == list(range(seen[0], -1, -1))  # one row a chunk, each committed
    await fold.close()
    await live.close()


async def test_a_set_left_for_the_copy_keeps_none_of_its_events_metadata_but_the_version(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """The fold holds what the read model holds: a set left until the copy keeps its data and
    the schema version decoding needs, not who sent it or the correlation and trace ids."""
    recorded = await world_history(catalogue, ids, recorder)
    traced = EventMetadata(
        correlation_id="correlation-7f3a",
        causation_id="causation-91bc",
        actor="actor-5d2e",
        actor_role="teacher",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate="vendor=trace-c0ffee",
    )
    first_version = RecordedEvent(  # a set written as version 1: upcast when decoded again
        stream_id="recommendations-v1",
        version=0,
        position=10**6,
        event_id=uuid.uuid4(),
        type=SET,
        data=json.dumps(EXAMPLES[(SET, 1)]).encode(),
        metadata=b'{"schema_version":1}',
        recorded_at=max(event.recorded_at for _, event in recorded),
    )
    history: Recorded = [
        (
            source,
            event._replace(metadata=_with(traced, event.metadata)) if event.type == SET else event,
        )
        for source, event in [*recorded, ("recommender", first_version)]
    ]
    live = await _live(tmp_path, history)
    fold = await _fold(tmp_path)
    await apply_in_order(fold, history)
    _, rows = fold.rows("SELECT * FROM portfolio_left_sets")
    left = list(rows)
    assert left  # a set is left, with none of its metadata's values
    for value in traced.model_dump(exclude_none=True, exclude={"schema_version"}).values():
        assert str(value) not in repr(left)
    await _before_copy(fold)
    assert await dump(fold) == await dump(live)
    await fold.close()
    await live.close()


def _with(traced: EventMetadata, metadata: bytes) -> bytes:
    """`traced` with the schema version stated in `metadata`."""
    version = EventMetadata.from_json(metadata).schema_version
    return traced.model_copy(update={"schema_version": version}).to_json()


async def test_the_tables_of_work_left_are_made_with_the_projections_not_by_each_commit(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    fold = await _fold(tmp_path)
    projection = PortfolioProjection()
    await fold.install(projection)
    _, tables = fold.rows("SELECT name FROM sqlite_master WHERE name LIKE 'portfolio_left_%'")
    assert sorted(name for (name,) in tables) == [
        "portfolio_left_documents",
        "portfolio_left_sets",
    ]
    statements: list[str] = []
    fold._writer.set_trace_callback(statements.append)  # every statement the fold runs
    renderer = layout_of(projection, fold.dialect).renderer
    for _, event in recorded:
        async with fold.transaction(renderer) as tx:
            await projection.apply(tx, event)
    await _before_copy(fold)
    fold._writer.set_trace_callback(None)
    assert statements
    assert [sql for sql in statements if "CREATE" in sql.upper()] == []
    await fold.close()


async def test_a_fold_in_one_long_transaction_equals_the_live_rows(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    live = await _live(tmp_path, recorded)
    fold = await _fold(tmp_path)
    await _in_one_transaction(fold, recorded)
    await _before_copy(fold)
    assert await dump(fold) == await dump(live)
    await fold.close()
    await live.close()


async def test_only_the_last_set_of_a_season_is_written_and_it_is_the_live_one(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    sets = [(source, event) for source, event in recorded if event.type == SET]
    assert sets
    # The same sets issued again later (new versions of their streams): each replaces its
    # season's earlier set, so only these are written, with their later times.
    again: Recorded = [
        (source, event._replace(version=event.version + 1000, position=event.position + 10**6))
        for source, event in sets
    ]
    last = max(event.recorded_at for _, event in recorded) + timedelta(days=1)
    again = [(source, event._replace(recorded_at=last)) for source, event in again]
    history = recorded + again
    live = await _live(tmp_path, history)
    fold = await _fold(tmp_path)
    await apply_in_order(fold, history)
    await _before_copy(fold)
    rows = await dump(fold)
    assert rows == await dump(live)
    assert {row[-1] for row in rows["recommendations"]} == {last.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    await fold.close()
    await live.close()


async def test_a_fold_transaction_rolled_back_after_its_work_was_left_leaves_nothing(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    live = await _live(tmp_path, recorded)
    fold = await _fold(tmp_path)
    await apply_in_order(fold, recorded)
    projection = PortfolioProjection()
    later = max(event.recorded_at for _, event in recorded) + timedelta(days=1)
    _, a_set = next((source, event) for source, event in recorded if event.type == SET)

    async def fails_after_leaving_work() -> None:
        async with fold.transaction(layout_of(projection, fold.dialect).renderer) as tx:
            await projection.apply(tx, a_set._replace(recorded_at=later))
            await tx.settle()  # the work left, as a long transaction does before its checkpoints
            raise _RolledBack

    with pytest.raises(_RolledBack):
        await fails_after_leaving_work()
    await _before_copy(fold)
    assert await dump(fold) == await dump(live)
    await fold.close()
    await live.close()


async def test_a_fold_cut_into_two_rounds_anywhere_equals_the_live_rows(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """A rebuild's second round folds what the live feed added during the first, on top of a
    fold whose left work the first round's `before_copy` already did: wherever the history is
    cut, the two rounds give the live rows. The history ends with a third set of pupil a
    superseding their second (left in the second round over one written in the first), then
    a's erasure (after their documents were rendered once)."""
    recorded = await world_history(catalogue, ids, recorder)
    a = ids.pupil("a")
    third = catalogue.recommendations(
        a, ids.uid("recommendations:a3"), ids.uid("recommendations:a2")
    )
    history = [*recorded, recorder.record(third), recorder.record(catalogue.erased(a))]
    live = await _live(tmp_path, history)
    expected = await dump(live)
    await live.close()
    for cut in range(len(history) + 1):
        fold = await FoldReadModel.open_fold(tmp_path / f"fold-{cut}.sqlite3", memory_mib=16)
        await apply_in_order(fold, history[:cut])
        await _before_copy(fold)
        await apply_in_order(fold, history[cut:])
        await _before_copy(fold)
        assert await dump(fold) == expected, f"cut after {cut} events"
        await fold.close()
