"""What every handler of the portfolio projection works with: the event being applied (`Step`),
the participant's row, history, counts and document it keeps current, and the conversions of
event values to column text shared by the handlers.

A participant's counts, version and document are worked out once per transaction (ADR 0060), not
once per event: their first event in the transaction makes sure of their row and locks it, each
event of theirs adds its history entry to the transaction's list and names them among the
participants whose portfolio changed (`ChangedPortfolios`); after the batch's last event, the
history goes in as one `executemany` and each participant is counted and rendered once, from the
tables as the whole batch left them (statements per event: docs/adr/0061). That is the state the
last of their events would have rendered one event per transaction, since nothing a handler
reads depends on the counts, the history or the document. Rows a handler gathers over the batch
(`Step.before_counts`: a recommendation set, of which only the last of a participant's season is
left, ADR 0102) are written just before, as one statement per table.

In a rebuild's fold (`FoldTx`, ADR 0097) the same argument reaches across transactions: nothing
reads the fold's tables before they are copied, so a participant's counts, version and document
are worked out once per rebuild round, just before the copy (`settle_left_documents`), from the
tables as the whole history left them, instead of once per transaction that touched them; and a
recommendation set, which the next set of the same participant and season replaces whole, is
written only if it is the last (`LeftForCopy`). What is left is kept in the fold's own tables, in
the same transactions, so a transaction rolled back leaves nothing behind. No row lock either:
the fold has one writer."""

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, cast

from bilet.contracts.codec import schema_version_of
from bilet.contracts.sealed import SealedValue
from bilet.eventstore import RecordedEvent
from bilet.projections import EVERY_KEY, BeforeCommit, ReadModelTx
from bilet.projections.folded import FoldTx
from bilet_portfolio.adapters import document
from bilet_portfolio.adapters.projection.json_columns import to_json
from bilet_portfolio.adapters.projection.tables import REFERENCE_ROW

# What `Step.text_of` has turned into text before its first call: no id is this object.
_NO_ID: Final = object()
# Everything a participant's row starts with, whatever event of theirs arrives first.
_NEW_PARTICIPANT: Final = (
    "INSERT INTO {participants} (participant_id, consent_state, erased, stages_completed, "
    "bookings_open, attended, recommendations, version, updated_at) "
    "VALUES ($1, 'none', FALSE, 0, 0, 0, 0, 0, $2) ON CONFLICT (participant_id) DO NOTHING"
)
# Counts of the participant's current season, recomputed from the rows (so they never drift, in
# whatever order the rows came), the version — the number of distinct events in their history,
# the ETag — and the latest time kept. All of it is the same however often an event is applied.
_REFRESH: Final = (
    "UPDATE {participants} SET "
    "stages_completed = (SELECT COUNT(DISTINCT a.stage) FROM {stage_attempts} a "
    "WHERE a.participant_id = {participants}.participant_id "
    "AND a.season = {participants}.season AND a.status = 'completed'), "
    "bookings_open = (SELECT COUNT(*) FROM {bookings} b "
    "WHERE b.participant_id = {participants}.participant_id "
    "AND b.season = {participants}.season AND b.status = 'booked'), "
    "attended = (SELECT COUNT(*) FROM {bookings} b "
    "WHERE b.participant_id = {participants}.participant_id "
    "AND b.season = {participants}.season AND b.status = 'attended'), "
    "recommendations = (SELECT COUNT(*) FROM {recommendations} r "
    "WHERE r.participant_id = {participants}.participant_id "
    "AND r.season = {participants}.season), "
    "version = (SELECT COUNT(*) FROM {history} h "
    "WHERE h.participant_id = {participants}.participant_id), "
    "updated_at = CASE WHEN updated_at < $2 THEN $2 ELSE updated_at END "
    "WHERE participant_id = $1"
)
# Taken first by every change of a participant's portfolio: the row lock. The feed applies its
# partitions in transactions side by side, and a participant's events come from several sources
# (so partitions); without it, two at once each counted the history without the other's row and
# both wrote the same version, for two different documents — one ETag naming two states, which a
# 304 or the cache of rendered answers (ADR 0025) would serve for each other. Waiting here for
# the other to commit, the statements after it see its rows (PostgreSQL, read committed: a
# snapshot per statement); SQLite has one writer at a time anyway.
_LOCK_PARTICIPANT: Final = "UPDATE {participants} SET version = version WHERE participant_id = $1"
_HISTORY: Final = (
    "INSERT INTO {history} (participant_id, source, position, stream_id, stream_version, "
    "event_type, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (participant_id, source, position) DO NOTHING"
)
# The participant's document, rendered again from the tables (with the version just counted).
_DOCUMENT: Final = (
    "INSERT INTO {portfolio_documents} (participant_id, version, sections) "
    "SELECT participant_id, version, $2 FROM {participants} WHERE participant_id = $1 "
    "ON CONFLICT (participant_id) DO UPDATE SET version = excluded.version, "
    "sections = excluded.sections"
)
# What a fold leaves until its copy (ADR 0097): tables of the fold only (no placeholder: they are
# not the projection's, so never copied, and no reader knows them), made by the fold with the
# projection's tables (`PortfolioProjection.fold_tables`).
LEFT_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS portfolio_left_documents "
    "(participant_id TEXT PRIMARY KEY, latest TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS portfolio_left_sets (participant_id TEXT NOT NULL, "
    "season BIGINT NOT NULL, type TEXT NOT NULL, data BLOB NOT NULL, "
    "schema_version BIGINT NOT NULL, issued TEXT NOT NULL, PRIMARY KEY (participant_id, season))",
)
# The latest time of a participant's changes: the larger text (fixed width, sorts as time).
_LEAVE_DOCUMENT: Final = (
    "INSERT INTO portfolio_left_documents (participant_id, latest) VALUES ($1, $2) "
    "ON CONFLICT (participant_id) DO UPDATE SET latest = max(latest, excluded.latest)"
)
# A later set of the participant's season replaces the earlier one whole, as its upsert does.
# Of the event's metadata only what decoding needs, its schema version: not the actor, the
# correlation or trace ids (the fold holds what the read model holds, no more).
_LEAVE_SET: Final = (
    "INSERT INTO portfolio_left_sets (participant_id, season, type, data, schema_version, "
    "issued) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (participant_id, season) DO UPDATE SET "
    "type = excluded.type, data = excluded.data, schema_version = excluded.schema_version, "
    "issued = excluded.issued"
)
# Rows of the left tables taken at a time before the copy, each chunk in a fold transaction of
# its own (memory: one chunk's documents; the WAL: one chunk's changes).
LEFT_CHUNK: Final = 1000
_REFERENCE_CHANGED: Final = (
    "INSERT INTO {reference_data} (name, version) VALUES ($1, 1) ON CONFLICT (name) "
    "DO UPDATE SET version = {reference_data}.version + 1"
)
_Rows = TypeVar("_Rows", bound=BeforeCommit)


def timestamp(moment: datetime) -> str:
    """Fixed-width UTC text: sorts as time does, and max() of two is the later one.
    (`YYYY-MM-DDTHH:MM:SS.ffffffZ`: the ISO form to the microsecond, cut before its `+00:00`,
    a third cheaper than `strftime`; called once per event.)"""
    return f"{moment.astimezone(UTC).isoformat(timespec='microseconds')[:26]}Z"


def sealed(value: object) -> str | None:
    """A sealed field as stored: its envelope, or nothing once erased (or when absent)."""
    return to_json(value.envelope()) if isinstance(value, SealedValue) else None


def plain(model: Any) -> Any:
    """A part of an event (a pydantic model) as JSON values; None stays None."""
    return None if model is None else model.model_dump(mode="json")


class Step:
    """One event being applied: the transaction, the envelope it came in and the time it was
    recorded, and what the event changed (a participant's portfolio, reference data)."""

    def __init__(self, tx: ReadModelTx, recorded: RecordedEvent, source: str) -> None:
        self.tx = tx
        self.recorded = recorded
        self.source = source
        self.at = timestamp(recorded.recorded_at)
        # In a rebuild's fold: the work only the copy reads is left until it (ADR 0097).
        self.folded = isinstance(tx, FoldTx)
        # The last participant id turned into text, and the text: a handler, `ensure_participant`
        # and `portfolio_changed` each ask for the same id's text (a `UUID.__str__` each).
        self._id: object = _NO_ID
        self._id_text = ""

    def text_of(self, participant_id: object) -> str:
        """`str(participant_id)`, worked out once per event for the participant it names."""
        if participant_id is not self._id:
            self._id, self._id_text = participant_id, str(participant_id)
        return self._id_text

    async def ensure_participant(self, participant_id: object) -> None:
        """Make sure the participant's row exists. Every handler of a participant's event starts
        here, so this is where the change is named for the update streams watching the
        participant (docs/adr/0059). Once per participant per transaction: rows of participants
        are never deleted, so a second insert in the same transaction would do nothing."""
        pid = self.text_of(participant_id)
        self.tx.changed(pid)
        if self.tx.gathered(ChangedPortfolios).first_ensured(pid):
            await self.tx.execute(_NEW_PARTICIPANT, pid, self.at)

    async def ensure_participant_is_erased(self, participant_id: object) -> bool:
        """`ensure_participant`, then whether the participant was erased: asked only by the
        handlers that would store a sealed field (a read per event costs a round trip), and
        read once per participant per transaction (`ChangedPortfolios.erased`)."""
        await self.ensure_participant(participant_id)
        pid = self.text_of(participant_id)
        known = self.tx.gathered(ChangedPortfolios).erased
        if pid not in known:
            erased = await self.tx.fetchval(
                "SELECT erased FROM {participants} WHERE participant_id = $1", pid
            )
            known[pid] = bool(erased)
        return known[pid]

    def once_before_commit(self, what: str, key: str, work: Callable[[], Awaitable[None]]) -> None:
        """Do `work` once before the commit instead of now: for work that recomputes something
        from rows (`what` of `key`) that nothing else in the projection reads, so that only its
        last run in the batch would have counted."""
        self.tx.gathered(ChangedPortfolios).last_only[(what, key)] = work

    def before_counts(self, kind: type[_Rows]) -> _Rows:
        """This transaction's one `kind()`, whose `before_commit` runs before the history,
        counts and documents (`ChangedPortfolios.before_commit`), which read what it writes:
        for rows a handler gathers over the batch and writes at once (a set per participant and
        season, ADR 0102), rather than a statement per event."""
        gathered = self.tx.gathered(ChangedPortfolios).before_counts
        work = gathered.get(kind)
        if work is None:
            work = gathered[kind] = kind()
        return cast(_Rows, work)

    def participant_erased(self, participant_id: object) -> None:
        """The participant was erased by this event (the one handler that sets the flag says
        so, so that `ensure_participant_is_erased` answers without reading it again)."""
        self.tx.gathered(ChangedPortfolios).erased[self.text_of(participant_id)] = True

    async def portfolio_changed(self, participant_id: object) -> None:
        """The participant's portfolio changed with this event: the row locked (by their first
        event in the transaction: the lock is held until it ends); the history entry, counts,
        version and the document once the transaction's events are all applied
        (`ChangedPortfolios`)."""
        pid = self.text_of(participant_id)
        self.tx.changed(pid)
        changed = self.tx.gathered(ChangedPortfolios)
        if changed.add(pid, self.at) and not self.folded:
            await self.tx.execute(_LOCK_PARTICIPANT, pid)
        recorded = self.recorded
        changed.history.append(
            (
                pid,
                self.source,
                recorded.position,
                recorded.stream_id,
                recorded.version,
                recorded.type,
                self.at,
            )
        )

    def leave_set(self, participant_id: str, season: int) -> None:
        """In a fold: this event, a recommendation set of the participant's `season`, is
        written before the copy if no later set of the same season replaces it
        (`LeftForCopy`)."""
        recorded = self.recorded
        self.tx.gathered(LeftForCopy).sets[(participant_id, season)] = (
            participant_id,
            season,
            recorded.type,
            recorded.data,
            schema_version_of(recorded.metadata),
            self.at,
        )

    async def reference_changed(self) -> None:
        """Reference data shown on portfolios changed (a school's name, a region's, a season's
        rules, a testing window): the count of such events, in every ETag, moves on. A count is
        the same whatever order the events came in."""
        await self.tx.execute(_REFERENCE_CHANGED, REFERENCE_ROW)
        self.tx.changed(EVERY_KEY)  # every ETag names the reference data's version


class ChangedPortfolios:
    """What one transaction did to portfolios: the participants whose row it made sure of, those
    whose portfolio changed, each with the latest time of their events in it, and the history
    entries of those events. The history goes in as one `executemany`, then each changed
    participant's counts, version and document are worked out once, before the commit
    (`ReadModelTx.gathered`)."""

    def __init__(self) -> None:
        # Work whose result only its last run in the batch leaves (a pure function of rows the
        # projection reads nowhere else), by what it is for: done once, before the counts.
        self.last_only: dict[tuple[str, str], Callable[[], Awaitable[None]]] = {}
        # Rows gathered over the batch by kind (`Step.before_counts`): written after `last_only`,
        # before the history and the counts, in the order first asked for.
        self.before_counts: dict[type[BeforeCommit], BeforeCommit] = {}
        self.erased: dict[str, bool] = {}  # participant id → erased, as read or set in the batch
        self._ensured: set[str] = set()
        self._latest: dict[str, str] = {}  # participant id → latest `timestamp` (sorts as time)
        self.history: list[tuple[str, str, int, str, int, str, str]] = []  # rows of `_HISTORY`

    def first_ensured(self, participant_id: str) -> bool:
        """Whether this is the transaction's first `ensure_participant` of the participant."""
        first = participant_id not in self._ensured
        self._ensured.add(participant_id)
        return first

    def add(self, participant_id: str, at: str) -> bool:
        """Note a change of the participant's portfolio at `at`: whether it is their first in
        this transaction (the one that takes the row lock)."""
        latest = self._latest.get(participant_id)
        if latest is None or at > latest:
            self._latest[participant_id] = at
        return latest is None

    async def before_commit(self, tx: ReadModelTx) -> None:
        for work in self.last_only.values():
            await work()
        for rows in self.before_counts.values():
            await rows.before_commit(tx)
        # The history first: the version counted below is the number of its rows.
        if self.history:
            await tx.executemany(_HISTORY, self.history)
        if isinstance(tx, FoldTx):  # counted and rendered once, before the copy (ADR 0097)
            tx.gathered(LeftForCopy).documents.update(self._latest)
        else:
            await settle_portfolios(tx, list(self._latest.items()))


async def settle_portfolios(tx: ReadModelTx, latest: Sequence[tuple[str, str]]) -> None:
    """The participants' counts, versions and documents worked out from the tables (each with
    the latest time of their changes). Every participant counted in one `executemany`, then
    rendered (a read each), then every document written in one more: a document reads its own
    participant's rows only, so the order across participants does not matter, and a long
    transaction of a rebuild (ADR 0068) pays three batches, not three round trips per
    participant."""
    await tx.executemany(_REFRESH, latest)
    documents = [
        (participant_id, await document.render(tx, participant_id)) for participant_id, _ in latest
    ]
    await tx.executemany(_DOCUMENT, documents)


class LeftForCopy:
    """What one fold transaction leaves until the copy (ADR 0097): the participants whose
    portfolio changed, with the latest time of their changes, and the last recommendation set
    of each participant's season as recorded. Kept in the fold's own tables before the commit,
    merged with what earlier transactions left (the later time; the later set)."""

    def __init__(self) -> None:
        self.documents: dict[str, str] = {}  # participant id → latest `timestamp`
        # (participant id, season) → the row of `_LEAVE_SET`
        self.sets: dict[tuple[str, int], tuple[str, int, str, bytes, int, str]] = {}

    async def before_commit(self, tx: ReadModelTx) -> None:
        if self.sets:
            await tx.executemany(_LEAVE_SET, list(self.sets.values()))
        if self.documents:
            await tx.executemany(_LEAVE_DOCUMENT, list(self.documents.items()))


async def take_left(tx: ReadModelTx, table: str, key: str, columns: str, chunk: int) -> list[Any]:
    """Up to `chunk` of the rows a fold left in `table` (`LEFT_TABLES`), first in order of
    `key`, deleted from it in `tx`, where the caller handles them: committed together, or
    rolled back together. Memory and the WAL hold one chunk, and the fold's file never holds a
    set both left and written (SQLite reuses the pages freed)."""
    width = key.count(",") + 1
    marks = ", ".join(f"${n}" for n in range(1, width + 1))
    select = f"SELECT {key}, {columns} FROM {table} ORDER BY {key} LIMIT {int(chunk)}"  # noqa: S608 - constant names
    delete = f"DELETE FROM {table} WHERE ({key}) <= ({marks})"  # noqa: S608 - constant names
    rows = list(await tx.fetch(select))
    if rows:
        await tx.execute(delete, *rows[-1][:width])
    return rows


async def settle_left_documents(tx: ReadModelTx, chunk: int) -> bool:
    """Before a fold's copy: up to `chunk` of the participants whose portfolio changed in it
    counted and rendered once, from the tables as the whole history left them
    (`settle_portfolios`): whether there were any."""
    rows = await take_left(tx, "portfolio_left_documents", "participant_id", "latest", chunk)
    await settle_portfolios(tx, [(participant_id, latest) for participant_id, latest in rows])
    return bool(rows)


# A handler applies one decoded event (of the type it is registered for) in its step.
Handler = Callable[[Step, Any], Awaitable[None]]


def by_event_type(*pairs: tuple[type[Any], Handler]) -> dict[str, Handler]:
    """Handlers keyed by event type, which is stable across versions: `decode` upcasts and hands
    over the newest version, whatever its class is called, so a new version slots in as long as
    it keeps the fields its handler reads (the unit tests apply the catalogue's example of every
    version)."""
    return {event_class.event_type: handler for event_class, handler in pairs}
