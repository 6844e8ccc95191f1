"""The portfolio projection: every published event of the catalogue, folded into SQL tables that
answer the portfolio API in one indexed read: the participant's row, their document (the
sections that are theirs alone, rendered whenever they change: adapters/document.py) and the
reference data it names. One module per source service holds the handlers of its events;
`tables` the tables, `step` what every handler works with.

One `bilet.projections` projection (`portfolio`), run by the worker from Kafka or in-process from
the stores (`make run`). Its SQL is the portable subset (`bilet.projections.port`), so it builds
the same rows on SQLite and PostgreSQL.

Determinism. Events of one stream arrive in order (the runtime dedupes per stream version and
stops at gaps), but streams — and sources — interleave differently on every feed. Every change
here is therefore either confined to one stream (a participant's consent history, one career
event, one attempt), commutative (counts recomputed from rows, `version + 1`, the latest time),
or decided by a total order that does not depend on arrival (two attempts of one stage: the one
with the higher diagnostics store position wins, chosen when read).

Personal data. Only sealed envelopes are kept (the ФИО of the participant, a mentor's comment),
never plaintext; the API opens them for entitled roles. `ParticipantErased` deletes them and marks
the participant erased; a sealed field that arrives after the erasure (another source, later) is
not stored. Pseudonymous facts (grades, results, attendance) stay.
"""

from collections.abc import Collection
from typing import Final

from bilet.contracts import CATALOGUE, decode
from bilet.eventstore import RecordedEvent
from bilet.projections import ReadModelTx
from bilet_portfolio.adapters.projection import (
    career_events,
    consent,
    diagnostics,
    identity,
    recommender,
)
from bilet_portfolio.adapters.projection.step import (
    LEFT_CHUNK,
    LEFT_TABLES,
    Handler,
    Step,
    settle_left_documents,
)
from bilet_portfolio.adapters.projection.tables import TABLES
from bilet_portfolio.settings import PROJECTION_NAME

# Every handler, by event type (each type belongs to one source service).
HANDLERS: Final[dict[str, Handler]] = {
    **identity.HANDLERS,
    **consent.HANDLERS,
    **diagnostics.HANDLERS,
    **career_events.HANDLERS,
    **recommender.HANDLERS,
}


class PortfolioProjection:
    """Every published event → the portfolio tables. Events that are not published (a
    service's internal streams and audit trail, seen on the embedded path) are ignored; a
    published event that does not decode (a version newer than this code, broken data) raises,
    so the runtime parks its stream and dead-letters it rather than skip it silently. (In a
    rebuild's fold, a recommendation set whose first fields read well is decoded only if it is
    the last of its participant's season, before the copy, ADR 0107: one that a later set
    replaces is never decoded, and the last one, if it does not decode, stops the rebuild;
    unless the fold is strict, or the set's stream is one the live projection refused.)"""

    name = PROJECTION_NAME
    tables = TABLES
    # What the handlers read of the recorded event (ADR 0067): its type and data (and the
    # metadata's schema version) to decode it, the time for `Step.at`; the runtime's stream id,
    # version and position are always there. The Kafka feed decodes nothing else (not the event
    # id); reading another field raises `UndeclaredEventField` and dead-letters the event.
    event_fields = frozenset({"type", "data", "metadata", "recorded_at"})
    # In a rebuild's fold: its tables of work left until the copy, made with the projection's.
    fold_tables = LEFT_TABLES

    def __init__(
        self,
        left_chunk: int = LEFT_CHUNK,
        *,
        strict_fold: bool = False,
        strict_streams: Collection[str] = (),
    ) -> None:
        self.left_chunk = left_chunk  # rows of work left taken per fold transaction
        # A strict fold decodes every set as it comes, as the live path does (ADR 0107, amended:
        # `BVB_PORTFOLIO_REBUILD_FOLD_STRICT`): a set that does not decode is dead-lettered
        # where it stands, superseded or not, rather than never read or stopping the rebuild.
        self.strict_fold = strict_fold
        # The streams whose sets any fold decodes so: those the live projection parked or
        # dead-lettered (`recommender.streams_refused_live`), whose dead letters and parking a
        # fold that never read a superseded bad set would otherwise drop at the switch.
        self.strict_streams = frozenset(strict_streams)

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        handler = HANDLERS.get(event.type)
        if handler is None or not CATALOGUE.is_published(event.type):
            return
        step = Step(tx, event, CATALOGUE.service_of(event.type))
        # In a rebuild's fold a recommendation set is decoded only if it survives (ADR 0107).
        a_fold_set = step.folded and event.type == recommender.SET and not self.strict_fold
        if (
            a_fold_set
            and event.stream_id not in self.strict_streams
            and await recommender.leave_undecoded(step)
        ):
            return
        await handler(step, decode(event))

    async def before_copy(self, tx: ReadModelTx) -> bool:
        """In a rebuild's fold, before its copy (`bilet.projections.folded.FoldsBeforeCopy`,
        ADR 0097), one chunk of `left_chunk` rows per call (the fold commits each): the
        recommendation sets left, then every changed participant's counts and document, which
        read them. Whether there was any left."""
        if await recommender.write_left_sets(tx, self.left_chunk):
            return True
        return await settle_left_documents(tx, self.left_chunk)


__all__ = ["HANDLERS", "TABLES", "PortfolioProjection"]
