"""A participant's counts and document are worked out once per batch (ADR 0060): a feed that
hands the projection each source's whole history in one transaction renders every touched
document once per transaction, and leaves exactly the rows that one transaction per event
leaves."""

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bilet.eventstore import RecordedEvent
from bilet.projections import Applied, Delivery, Projector, ReadModelTx
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters import document
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.testing import apply_in_order, dump, world_history

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder


async def test_a_batch_renders_each_touched_document_once_and_builds_the_same_rows(
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    event_by_event = await SqliteReadModel.open(tmp_path / "event-by-event.sqlite3")
    await apply_in_order(event_by_event, recorded)

    rendered: list[list[str]] = []  # participant ids rendered, per transaction
    render = document.render

    async def counted(tx: ReadModelTx, participant_id: str) -> str:
        rendered[-1].append(participant_id)
        return await render(tx, participant_id)

    monkeypatch.setattr(document, "render", counted)
    batched = await SqliteReadModel.open(tmp_path / "batched.sqlite3")
    by_source = await _apply_each_source_in_one_batch(
        batched, recorded, lambda: rendered.append([])
    )

    pupils = {str(ids.pupil(name)) for name in ("a", "b", "e")}
    assert all(len(each) == len(set(each)) for each in rendered), rendered
    assert set().union(*rendered) == pupils
    assert len(by_source["identity"]) > len(pupils)  # several events of a pupil in one batch
    assert await dump(batched) == await dump(event_by_event)
    await batched.close()
    await event_by_event.close()


async def test_a_batch_makes_sure_of_and_locks_a_participant_once_and_sends_history_at_once(
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Statements per event (docs/adr/0061): within one transaction a participant's row is made
    sure of and locked by their first event only, and the history rows of all its events go in
    as one `executemany`, not a statement per event."""
    recorded = await world_history(catalogue, ids, recorder)
    sent = record_statements(monkeypatch)
    batched = await SqliteReadModel.open(tmp_path / "batched.sqlite3")
    transactions = len(await _apply_each_source_in_one_batch(batched, recorded, lambda: None))

    def per_transaction(
        start: str,
    ) -> Counter[tuple[ReadModelTx, str]]:  # (transaction, participant)
        return Counter(
            (tx, row[0]) for tx, _, sql, rows in sent if sql.startswith(start) for row in rows
        )

    made_sure = per_transaction("INSERT INTO {participants}")
    locked = per_transaction("UPDATE {participants} SET version = version")
    history = [(how, rows) for _, how, sql, rows in sent if sql.startswith("INSERT INTO {history}")]
    history_rows = sum(len(rows) for _, rows in history)
    assert history_rows > len(locked)  # several events of one participant in a transaction
    assert set(made_sure.values()) == {1}
    assert set(locked.values()) == {1}
    assert all(how == "executemany" for how, _ in history)
    assert len(history) <= transactions
    assert history_rows == len((await dump(batched))["history"])
    await batched.close()


def record_statements(
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[ReadModelTx, str, str, list[Any]]]:
    """Every statement the SQLite read model's transactions are sent from now on (until
    `monkeypatch` is undone), as (transaction, "execute" or "executemany", sql, rows); each still
    goes to the database."""
    from bilet.projections import sqlite  # the adapter's transaction

    sent: list[tuple[ReadModelTx, str, str, list[Any]]] = []

    def recording(how: str, original: Any) -> Any:
        async def record(tx: ReadModelTx, sql: str, *args: Any) -> None:
            rows = list(args[0]) if how == "executemany" else [args]
            sent.append((tx, how, sql, rows))  # the transaction kept: no id reused
            await original(tx, sql, *((rows,) if how == "executemany" else args))

        return record

    for how in ("execute", "executemany"):
        monkeypatch.setattr(sqlite.SqliteTx, how, recording(how, getattr(sqlite.SqliteTx, how)))
    return sent


async def _apply_each_source_in_one_batch(
    read_model: SqliteReadModel,
    recorded: list[tuple[str, RecordedEvent]],
    before_each: Callable[[], None],
) -> dict[str, list[RecordedEvent]]:
    """The projection applied as a feed would hand it each source's whole history: one batch
    (so one transaction) per source; the events by source."""
    projector = Projector(read_model, PortfolioProjection())
    await projector.install()
    by_source: dict[str, list[RecordedEvent]] = {}
    for source, event in recorded:
        by_source.setdefault(source, []).append(event)
    for source, events in by_source.items():
        await projector.resume_points(source, [0], source)
        before_each()
        deliveries = [Delivery(event, offset, offset + 1) for offset, event in enumerate(events)]
        assert await projector.apply(source, 0, 0, deliveries) == Applied(len(events))
    return by_source
