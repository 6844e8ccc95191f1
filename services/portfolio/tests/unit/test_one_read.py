"""The consent gate and the portfolio come from one read: a withdrawal the feed commits while a
request is reading never yields a portfolio shown under a closed consent."""

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bilet.audit import InMemoryAuditLog
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import RecordedEvent
from bilet.http.auth import Principal, Role
from bilet.projections import ReadModelTx, Row
from bilet.projections.port import SqlRenderer
from bilet.projections.readmodel import layout_of
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.readmodel import SqlPortfolioReader
from bilet_portfolio.adapters.testing import apply_in_order
from bilet_portfolio.application.errors import ConsentRequired
from bilet_portfolio.application.listing import ListCursors
from bilet_portfolio.application.service import PortfolioQueries, ReadContext
from bilet_portfolio.domain.consent import ConsentState

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder


class FeedCommitsAfterTheRowIsRead(SqliteReadModel):
    """The real SQLite read model; right after a query first reads a participant's row, the feed
    commits one more event (`then`) on the writer connection, as the in-process feed would."""

    then: RecordedEvent | None = None

    @asynccontextmanager
    async def reader(self, renderer: SqlRenderer) -> AsyncIterator[ReadModelTx]:
        async with super().reader(renderer) as tx:
            yield _CommitsAfterTheRow(tx, self)

    async def commit_then(self) -> None:
        event, self.then = self.then, None
        if event is not None:
            projection = PortfolioProjection()
            layout = layout_of(projection, self.dialect)
            async with self.transaction(layout.renderer) as write:
                await projection.apply(write, event)


class _CommitsAfterTheRow(ReadModelTx):
    def __init__(self, inner: ReadModelTx, read_model: FeedCommitsAfterTheRowIsRead) -> None:
        super().__init__(SqlRenderer(inner.dialect, {}))
        self.dialect = inner.dialect
        self._inner = inner
        self._read_model = read_model

    async def execute(self, sql: str, *args: Any) -> None:
        await self._inner.execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._inner.executemany(sql, rows)

    async def flush(self) -> None:
        await self._inner.flush()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows = await self._inner.fetch(sql, *args)
        if "FROM {participants} p" in sql:
            await self._read_model.commit_then()
        return rows


async def test_a_withdrawal_between_gate_and_read_is_not_half_seen(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    c = catalogue
    pid, cid = ids.pupil("racy"), ids.uid("consent:racy")
    read_model = await FeedCommitsAfterTheRowIsRead.open(tmp_path / "rm.sqlite3")
    assert isinstance(read_model, FeedCommitsAfterTheRowIsRead)
    await apply_in_order(
        read_model,
        [
            recorder.record(event)
            for event in (
                c.school(ids.school_3),
                await c.registered(pid),
                await c.submitted(pid, cid),
                c.verified(pid, cid),
            )
        ],
    )
    reader = SqlPortfolioReader(read_model)
    _, read_model.then = recorder.record(c.withdrawn(pid, cid))
    async with InMemoryKeyStore() as keys:
        queries = PortfolioQueries(
            reader,
            FieldCipher(keys),
            InMemoryAuditLog(),
            cursors=ListCursors(bytes(32)),
            today=lambda: date(2019, 11, 5),
        )
        ctx = ReadContext(Principal("pupil-1", Role.PUPIL, participant_id=str(pid)), "c-1")
        try:
            view = await queries.portfolio(ctx, str(pid))
        except ConsentRequired:
            pass  # the withdrawal was seen by the one read: refused, consistently
        else:
            # Decided before the withdrawal: then all of it is as before the withdrawal.
            assert view.record is not None
            assert view.consent_state is ConsentState.VERIFIED
            assert view.record.participant.consent.state is ConsentState.VERIFIED
        assert read_model.then is None, "the feed committed during the request"
        # The next request sees the withdrawal.
        with pytest.raises(ConsentRequired) as refused:
            await queries.portfolio(ctx, str(pid))
        assert refused.value.details["consent_state"] == "withdrawn"
    await read_model.close()
