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
reads depends on the counts, the history or the document."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

from bilet.contracts.sealed import SealedValue
from bilet.eventstore import RecordedEvent
from bilet.projections import EVERY_KEY, ReadModelTx
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
_REFERENCE_CHANGED: Final = (
    "INSERT INTO {reference_data} (name, version) VALUES ($1, 1) ON CONFLICT (name) "
    "DO UPDATE SET version = {reference_data}.version + 1"
)


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
        if changed.add(pid, self.at):
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
        # The history first: the version counted below is the number of its rows.
        if self.history:
            await tx.executemany(_HISTORY, self.history)
        # Every participant counted in one `executemany`, then rendered (a read each), then
        # every document written in one more: a document reads its own participant's rows only,
        # so the order across participants does not matter, and a long transaction of a rebuild
        # (ADR 0068) pays three batches, not three round trips per participant.
        await tx.executemany(_REFRESH, list(self._latest.items()))
        documents = [
            (participant_id, await document.render(tx, participant_id))
            for participant_id in self._latest
        ]
        await tx.executemany(_DOCUMENT, documents)


# A handler applies one decoded event (of the type it is registered for) in its step.
Handler = Callable[[Step, Any], Awaitable[None]]


def by_event_type(*pairs: tuple[type[Any], Handler]) -> dict[str, Handler]:
    """Handlers keyed by event type, which is stable across versions: `decode` upcasts and hands
    over the newest version, whatever its class is called, so a new version slots in as long as
    it keeps the fields its handler reads (the unit tests apply the catalogue's example of every
    version)."""
    return {event_class.event_type: handler for event_class, handler in pairs}
