"""Recommendation sets in one live transaction (ADR 0102): only the last set of each
participant's season is written, once, before the counts and documents, as one statement per
table; the rows equal those that applying the sets one transaction at a time leaves, and those a
rebuild's fold leaves."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bilet.projections import ReadModelTx
from bilet.projections.folded import FoldReadModel
from bilet.projections.readmodel.schema import layout_of
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters.projection import PortfolioProjection, recommender
from bilet_portfolio.adapters.testing import (
    apply_in_one_batch,
    apply_in_order,
    dump,
    sets_history,
)
from services.portfolio.tests.unit.test_batch_render import record_statements

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder


async def test_two_sets_of_a_pupil_in_one_batch_leave_what_one_by_one_leaves(
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = sets_history(catalogue, ids, recorder)
    one_by_one = await SqliteReadModel.open(tmp_path / "one-by-one.sqlite3")
    await apply_in_order(one_by_one, recorded)

    sent = record_statements(monkeypatch)
    batched = await SqliteReadModel.open(tmp_path / "batched.sqlite3")
    await apply_in_one_batch(batched, recorded)
    monkeypatch.undo()

    rows = await dump(batched)
    assert rows == await dump(one_by_one)
    a, b = str(ids.pupil("a")), str(ids.pupil("b"))
    kept = {row[0]: row[2] for row in rows["recommendations"]}
    assert kept == {a: str(ids.uid("recommendations:4")), b: str(ids.uid("recommendations:3"))}
    outlooks = {row[0]: row[2:] for row in rows["recommendation_outlooks"]}
    assert outlooks[a] == (None, None, None)  # the last of a's sets published none
    assert None not in outlooks[b]
    # Each table written once, by one `executemany` holding one row per pupil.
    for table in ("{recommendations}", "{recommendation_outlooks}"):
        insert = f"INSERT INTO {table}"
        writes = [(how, rows) for _, how, sql, rows in sent if sql.startswith(insert)]
        assert [(how, sorted(row[0] for row in rows)) for how, rows in writes] == [
            ("executemany", sorted([a, b]))
        ]
    await batched.close()
    await one_by_one.close()


async def test_a_batch_holding_more_sets_than_it_keeps_writes_them_as_it_goes(
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A long transaction (a rebuild that does not fold) writes its sets every SETS_HELD, and a
    # later set of a season still replaces the row written before it.
    recorded = sets_history(catalogue, ids, recorder)
    one_by_one = await SqliteReadModel.open(tmp_path / "one-by-one.sqlite3")
    await apply_in_order(one_by_one, recorded)
    monkeypatch.setattr(recommender, "SETS_HELD", 1)
    written: list[int] = []
    write_sets = recommender.write_sets

    async def counted(tx: ReadModelTx, sets: Any) -> None:
        written.append(len(sets))
        await write_sets(tx, sets)

    monkeypatch.setattr(recommender, "write_sets", counted)
    batched = await SqliteReadModel.open(tmp_path / "batched.sqlite3")
    await apply_in_one_batch(batched, recorded)
    monkeypatch.undo()

    assert len(written) > 2  # five sets, each written as it came, then none left
    assert written[:-1] == [1] * (len(written) - 1)
    assert await dump(batched) == await dump(one_by_one)
    await batched.close()
    await one_by_one.close()


async def test_sets_in_one_batch_leave_what_a_rebuilds_fold_leaves(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    recorded = sets_history(catalogue, ids, recorder)
    batched = await SqliteReadModel.open(tmp_path / "batched.sqlite3")
    await apply_in_one_batch(batched, recorded)
    fold = await FoldReadModel.open_fold(tmp_path / "fold.sqlite3", memory_mib=16)
    projection = PortfolioProjection()
    await fold.install(projection)
    renderer = layout_of(projection, fold.dialect).renderer
    for _, event in recorded:  # the fold's transactions, one per set
        async with fold.transaction(renderer) as tx:
            await projection.apply(tx, event)
    await fold.do_left_work(projection, renderer)
    assert await dump(fold) == await dump(batched)
    await fold.close()
    await batched.close()
