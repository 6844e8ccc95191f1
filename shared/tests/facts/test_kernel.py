"""The facts read side's kernel on a SQLite read model: the pupil's consent, erasure and merge
columns as `PupilConsentColumns` folds them, read back through `ReadModelQueries` ("nothing
known" before a feed installed the table) and `purposes_in_force`."""

from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from bilet.contracts import decode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.identity import ParticipantMerged
from bilet.eventstore import RecordedEvent
from bilet.facts.pupils import HANDLED, PupilConsentColumns
from bilet.facts.queries import ReadModelQueries, purposes_in_force
from bilet.facts.testing import (
    FactsEvents,
    FactsHistory,
    erased,
    history_on_sqlite,
    purposes_withdrawn,
    withdrawn,
)
from bilet.projections import ReadModel, ReadModelTx, Table

_COLUMNS = PupilConsentColumns("kernel_pupils", erasure_clears=("nickname",))
_EVENTS = FactsEvents(grade=7, purposes=(Purpose.PROGRAMME_PARTICIPATION, Purpose.CAREER_EVENTS))
TODAY = date(2019, 10, 31)


class _Pupils:
    """A projection of nothing but the kernel's columns (and one a service would add)."""

    name = "kernel_pupils_test"
    tables = (
        Table(
            "kernel_pupils",
            "participant_id TEXT PRIMARY KEY, consent_id TEXT, purposes TEXT, valid_until TEXT, "
            "erased BOOLEAN NOT NULL, merged_into TEXT, nickname TEXT",
        ),
    )

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if event.type in HANDLED:
            assert await _COLUMNS.apply(tx, decode(event))


_PROJECTION = _Pupils()


class _Queries(ReadModelQueries):
    projection = _PROJECTION

    async def pupil(self, participant_id: UUID) -> tuple[frozenset[Purpose], bool, str | None]:
        rows = await self._fetch(
            "SELECT purposes, valid_until, erased, merged_into FROM {kernel_pupils} "
            "WHERE participant_id = $1",
            str(participant_id),
        )
        purposes, valid_until, gone, merged_into = rows[0]
        return purposes_in_force(purposes, valid_until, TODAY), bool(gone), merged_into


def _history(read_model: ReadModel) -> FactsHistory:
    return FactsHistory(read_model, _PROJECTION, ("identity", "consent"))


async def test_the_columns_follow_consents_withdrawals_erasures_and_merges(tmp_path: Path) -> None:
    narrowed, gone, withdrawing, expired, merged, kept = (uuid4() for _ in range(6))
    consent = uuid4()
    async with history_on_sqlite(tmp_path / "kernel.sqlite3", _history) as history:
        queries = _Queries(history.feed.read_model)
        await history.given(
            _EVENTS.verified(narrowed, consent_id=consent),
            purposes_withdrawn(
                narrowed, consent, [Purpose.CAREER_EVENTS], [Purpose.PROGRAMME_PARTICIPATION]
            ),
            _EVENTS.verified(gone),
            erased(gone),
            _EVENTS.verified(withdrawing),
            withdrawn(withdrawing, TODAY),
            _EVENTS.verified(expired, date(2019, 10, 30)),
            _EVENTS.verified(merged),
            ParticipantMerged(participant_id=merged, kept_participant_id=kept),
        )
        assert await queries.pupil(narrowed) == (
            frozenset({Purpose.PROGRAMME_PARTICIPATION}),
            False,
            None,
        )
        assert await queries.pupil(gone) == (frozenset(), True, None)
        assert await queries.pupil(withdrawing) == (frozenset(), False, None)
        assert await queries.pupil(expired) == (frozenset(), False, None)
        assert await queries.pupil(merged) == (frozenset(_EVENTS.purposes), False, str(kept))


async def test_before_a_feed_installed_the_tables_nothing_is_known(tmp_path: Path) -> None:
    async with history_on_sqlite(tmp_path / "kernel.sqlite3", _history) as history:
        queries = _Queries(history.feed.read_model)
        assert await queries._fetch("SELECT 1 FROM {kernel_pupils}") == []
        assert not await queries.wait_for("consent", 1, 0.05)


def test_purposes_are_in_force_until_their_last_day_only() -> None:
    assert purposes_in_force("career_events", "2019-10-31", TODAY) == {Purpose.CAREER_EVENTS}
    assert purposes_in_force("career_events", "2019-10-30", TODAY) == frozenset()
    assert purposes_in_force(None, None, TODAY) == frozenset()


def test_the_pupils_table_and_its_columns_must_be_sql_identifiers() -> None:
    with pytest.raises(ValueError, match="SQL identifiers"):
        PupilConsentColumns("pupils; DROP TABLE x")
    with pytest.raises(ValueError, match="SQL identifiers"):
        PupilConsentColumns("pupils", erasure_clears=("a = 1, b",))
