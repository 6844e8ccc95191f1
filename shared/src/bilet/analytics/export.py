"""One export run: read the published events from a source, keep those the purpose may hold,
write them as Parquet, and commit the run in the manifest.

What the directory holds after each committed run, for the cursor it reached: every event up to
the cursor (from `since`, if the export has one) that is about no participant (seasons, regions,
schools, career events, instruments), and every event of each participant in the population
(`population.Population`) — nothing else. To keep that true when the population changes:
- a participant who left it (consent withdrawn, expired or narrowed; erased) has their rows
  removed from the files written before (`parquet.remove_participants`);
- a participant who joined it (a consent given later) has their events before the cursor read
  again and written (a backfill).

Identity's and consent's lanes are read once: the population pass holds their events after the
cursor (within `HELD_BYTES`) for the export's pass, which writes them once the population is
known, so no row of a participant outside it is ever built into a file.

Long runs commit every `chunk_events` events, so an interrupted run loses at most a chunk: the
next run removes what the interrupted one left unlisted and goes on from the last commit.
"""

import contextlib
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol
from uuid import UUID

import pyarrow as pa
import pyarrow.parquet as pq

from bilet.analytics.columns import participant_of, row_of, table_name
from bilet.analytics.database import build_database
from bilet.analytics.manifest import (
    DIMENSION,
    Manifest,
    RunRecord,
    load_manifest,
    remove_leftovers,
    write_manifest,
)
from bilet.analytics.parquet import (
    PendingRows,
    remove_participants,
    rows_by_table,
    write_parquet,
)
from bilet.analytics.population import ENDINGS, POPULATION_TYPES, Population
from bilet.analytics.pseudonyms import Pseudonymiser, check_purpose, pseudonymiser_for
from bilet.analytics.sources import Cursor, Page, Source
from bilet.contracts import decode
from bilet.crypto import KeyStore
from bilet.eventstore import RecordedEvent

CHUNK_EVENTS: Final = 100_000
POPULATION_SERVICES: Final = ("identity", "consent")
# Identity's and consent's events after the cursor are read once: by the population pass, which
# holds them for the export's pass, up to about this many bytes (their JSON and metadata, plus
# `HELD_OVERHEAD` per event); the rest of those lanes is read again.
HELD_BYTES: Final = 512 * 1024 * 1024
# The young generation's threshold during an export (`bvb analytics export` and its bench; ADR
# 0083's figures were measured at it).
EXPORT_YOUNG: Final = 50_000
# A held event's own objects (the record tuple, its id, time and texts), roughly, in bytes.
HELD_OVERHEAD: Final = 700


class Progress(Protocol):
    """What a run tells about its progress (the CLI draws a bar with rate and ETA)."""

    def begin(self, phase: str, total: int) -> None: ...

    def advance(self, amount: int) -> None: ...


class _Silent:
    def begin(self, phase: str, total: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


class ExportRefused(Exception):
    """The request contradicts the directory (another purpose or source, a start given twice)."""


@dataclass(frozen=True)
class ExportRequest:
    purpose: str
    out: Path
    since: datetime | None = None
    until: datetime | None = None
    start: Cursor | None = None  # `--from-offsets`: where a first run begins, per lane
    chunk_events: int = CHUNK_EVENTS

    def __post_init__(self) -> None:
        check_purpose(self.purpose)
        for name, moment in (("since", self.since), ("until", self.until)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone")
        if self.since and self.until and self.until <= self.since:
            raise ValueError("until must be after since")


@dataclass
class _Held:
    """A lane's events after `after` that the population pass read, in order, for the export's
    pass; `reached` is the lane's cursor after the last of them, where reading resumes."""

    after: int
    reached: int
    pages: deque[Page] = field(default_factory=deque)


class _Participants:
    """The participants a pass keeps, asked by the text of an id as an event spells it: `texts`
    holds the canonical spelling (`str(UUID)`, which the contract writes), `spelt_otherwise`
    answers for any other."""

    def __init__(self, participants: Iterable[UUID]) -> None:
        self.texts = frozenset(map(str, participants))
        # Texts found to name none of them: each recurs in most of its participant's events.
        self._outside: set[str] = set()

    def spelt_otherwise(self, text: str) -> bool:
        """Whether `text`, not in `texts`, still names one of them: the decision is the id's,
        not its spelling's."""
        if text in self._outside:
            return False
        canonical = str(UUID(text))
        if canonical != text and canonical in self.texts:
            return True
        self._outside.add(text)
        return False


@dataclass
class ExportReport:
    """What a run did; `changed` is False when it found nothing new and wrote nothing."""

    manifest: Manifest
    changed: bool
    rows: dict[str, int] = field(default_factory=dict)
    excluded_events: dict[str, int] = field(default_factory=dict)
    removed_rows: int = 0
    leftovers_removed: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _same_table(path: Path, table: pa.Table) -> bool:
    return path.exists() and pq.read_table(path).equals(table)


class ExportRun:
    """One run over one source into one directory (see the module's docstring)."""

    def __init__(
        self,
        source: Source,
        keystore: KeyStore,
        request: ExportRequest,
        *,
        progress: Progress | None = None,
        clock: Callable[[], datetime] = _now,
        held_bytes: int = HELD_BYTES,
    ) -> None:
        self.source = source
        self.keystore = keystore
        self.request = request
        self.progress = progress or _Silent()
        self.clock = clock
        self.held_bytes = held_bytes
        self._held: dict[str, _Held] = {}
        self.run_id = f"{clock().strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
        self.chunks = 0
        self.record: RunRecord | None = None
        # Set by `execute` before anything is read.
        self.pseudonymise = Pseudonymiser(request.purpose, b"")
        self.pending = PendingRows(self.pseudonymise)
        self.dimension = pa.table({})
        self.population: list[str] = []
        self.excluded_participants = 0
        # The last recording time seen, and its month.
        self._month_of: tuple[datetime | None, str] = (None, "")

    async def execute(self) -> ExportReport:
        out, request = self.request.out, self.request
        out.mkdir(parents=True, exist_ok=True)
        previous = load_manifest(out)
        self._check_against(previous)
        leftovers = remove_leftovers(out, previous)
        pseudonymise = self.pseudonymise = await pseudonymiser_for(self.keystore, request.purpose)
        self.pending = PendingRows(pseudonymise)
        started_at = self.clock()
        manifest = previous or Manifest(
            purpose=request.purpose,
            source=self.source.kind,
            since=request.since,
            created_at=started_at,
            updated_at=started_at,
        )
        lanes = self.source.lanes()
        ends = await self.source.ends()
        first = previous is None or not previous.runs
        begin = request.start if first and request.start is not None else manifest.cursor
        cursor = {lane: begin.get(lane, self.source.start(lane)) for lane in lanes}
        started_from = dict(cursor)

        population = await self._population(cursor, ends)
        covered = {pseudonym: p for p, pseudonym in pseudonymise.pin(population.covered()).items()}
        before = set(manifest.population)
        revoked = before - set(covered)
        joined = set() if first else {covered[p] for p in set(covered) - before}
        # First, so that a crash anywhere later finds them still to remove (it is idempotent).
        removed = remove_participants(out, manifest.files(), revoked)
        self.dimension = population.dimension(pseudonymise)
        dimension_changed = not _same_table(out / DIMENSION, self.dimension)
        known = population.known_participants()
        self.population = sorted(covered)
        self.excluded_participants = len(known - population.covered())

        self.record = RunRecord(
            run=self.run_id,
            started_at=started_at,
            committed_at=started_at,
            started_from=started_from,
            reached=dict(cursor),
            backfilled_participants=len(joined),
            removed_participants=len(revoked),
            removed_rows=removed,
        )
        total = sum(max(0, cursor[lane] - self.source.start(lane)) for lane in lanes if joined)
        total += sum(max(0, ends[lane] - cursor[lane]) for lane in lanes)
        self.progress.begin("export", total)
        if joined:
            newcomers = _Participants(joined)
            for lane in lanes:
                await self._pass(lane, self.source.start(lane), cursor[lane], manifest, newcomers)
        everyone = _Participants(covered.values())
        for lane in lanes:
            cursor[lane] = await self._pass(
                lane, cursor[lane], ends[lane], manifest, everyone, cursor
            )
            self.progress.advance(max(0, ends[lane] - cursor[lane]))  # only unpublished types left
        nothing_new = (
            previous is not None
            and self.chunks == 0
            and self.pending.count == 0
            and not revoked
            and not dimension_changed
            and cursor == manifest.cursor
        )
        if nothing_new:
            return ExportReport(manifest, changed=False, leftovers_removed=leftovers)
        await self._commit(manifest, cursor, final=True)
        return ExportReport(
            manifest,
            changed=True,
            rows=dict(self.record.rows),
            excluded_events=dict(self.record.excluded_events),
            removed_rows=removed,
            leftovers_removed=leftovers,
        )

    def _check_against(self, previous: Manifest | None) -> None:
        request = self.request
        if previous is None:
            return
        if previous.purpose != request.purpose:
            raise ExportRefused(
                f"{request.out} holds the export for purpose {previous.purpose!r}; "
                "each purpose gets a directory of its own"
            )
        if previous.source != self.source.kind:
            raise ExportRefused(
                f"{request.out} was exported from {previous.source}, not {self.source.kind}"
            )
        if previous.runs and (request.start is not None or request.since is not None):
            raise ExportRefused(
                "--since and --from-offsets set where a new export starts; this one continues "
                "from its manifest"
            )

    async def _population(self, cursor: Cursor, ends: Cursor) -> Population:
        """The fold of identity's and consent's lanes up to their ends (or `until`). Their
        events after the cursor, which the export's pass reads too, are held for it (`_pages`)
        within `held_bytes`: those lanes are read once."""
        moment = (self.request.until or self.clock()).date()
        population = Population(moment=moment)
        budget = [self.held_bytes]
        for lane, service in self.source.lanes().items():
            if service not in POPULATION_SERVICES:
                continue
            start, after, end = self.source.start(lane), cursor[lane], ends[lane]
            held = self._held[lane] = _Held(after, after)
            reached = False
            if after > start:  # before the cursor, only what the fold reads
                before = self.source.read(lane, start, min(after, end), POPULATION_TYPES)
                reached = await self._fold(population, before, None, budget)
            if reached:  # `until` came first: nothing to hold, only the endings to apply
                later = self.source.read(lane, after, end, POPULATION_TYPES)
                await self._fold(population, later, None, budget)
            else:
                await self._fold(population, self.source.read(lane, after, end), held, budget)
        return population

    async def _fold(
        self,
        population: Population,
        pages: AsyncGenerator[Page, None],
        held: _Held | None,
        budget: list[int],
    ) -> bool:
        """Apply the pages' events to the population (True when `until` was reached), holding the
        pages in `held` while they fit in `budget` (bytes, shared by the lanes; once a page does
        not fit, no later one is held, so what is held stays contiguous) and up to the first
        event at or after `until` (where the export's pass stops).

        Past `until` the fold goes on to the lane's end: an event recorded before `until` may be
        stored after one recorded later (on PostgreSQL a position follows the transaction, the
        time its insert), and an ending — a withdrawal, an erasure — applies whenever it came:
        a new export never holds a participant who withdrew or was erased (ADR 0087)."""
        reached = False
        async with contextlib.aclosing(pages):
            async for page in pages:
                kept: Page = page[:0] if reached else page
                for index, (recorded, _) in enumerate(page):
                    late = self._after_until(recorded)
                    if late and not reached:
                        kept, reached = page[:index], True
                    if recorded.type in POPULATION_TYPES and (not late or recorded.type in ENDINGS):
                        population.apply(decode(recorded))
                if held is not None and kept:
                    size = sum(
                        len(recorded.data) + len(recorded.metadata) + HELD_OVERHEAD
                        for recorded, _ in kept
                    )
                    if size <= budget[0]:
                        budget[0] -= size
                        held.pages.append(kept)
                        held.reached = kept[-1][1]
                    else:
                        budget[0], held = 0, None
                if reached:
                    held = None  # what is held ends before `until`
        return reached

    async def _pages(
        self, lane: str, after: int, end: int, *, main: bool
    ) -> AsyncGenerator[Page, None]:
        """The lane's pages from `after` to `end`; for the main pass (not a backfill, which
        reads before the cursor), those the population pass held for it first (each let go
        once handed over), then the rest read from the source."""
        held = self._held.get(lane) if main else None
        if held is not None and held.after == after:
            del self._held[lane]
            while held.pages:
                yield held.pages.popleft()
            after = held.reached
        pages = self.source.read(lane, after, end)
        async with contextlib.aclosing(pages):  # ends its read ahead when stopped early
            async for page in pages:
                yield page

    def _after_until(self, recorded: RecordedEvent) -> bool:
        until = self.request.until
        return until is not None and recorded.recorded_at >= until

    async def _pass(
        self,
        lane: str,
        after: int,
        end: int,
        manifest: Manifest,
        participants: _Participants,
        cursor: Cursor | None = None,
    ) -> int:
        """Export the lane's events from `after` to `end` about no participant or about one of
        `participants`; returns the lane's new cursor. With `cursor`, chunks are committed
        (the main pass); without, the pass is a backfill before the cursor."""
        assert self.record is not None
        service = self.source.lanes()[lane]
        position = after
        since, until = manifest.since, self.request.until
        backfill = cursor is None
        pages = self._pages(lane, after, end, main=not backfill)
        async with contextlib.aclosing(pages):  # ends its read ahead when stopped early
            async for page in pages:
                page_start = position
                for recorded, reached in page:
                    if until is not None and recorded.recorded_at >= until:
                        self.progress.advance(position - page_start)
                        return position
                    if since is None or recorded.recorded_at >= since:
                        self._take(recorded, service, participants, backfill=backfill)
                    position = reached
                    if cursor is not None and self.pending.count >= self.request.chunk_events:
                        cursor[lane] = position
                        await self._commit(manifest, cursor, final=False)
                self.progress.advance(position - page_start)
        return position

    def _take(
        self,
        recorded: RecordedEvent,
        service: str,
        participants: _Participants,
        *,
        backfill: bool,
    ) -> None:
        """Keep the event for the chunk if it belongs in the export."""
        assert self.record is not None
        row = row_of(recorded, validated=self.source.validated_on_write)
        participant = participant_of(recorded.type, row)
        if participant is None:
            if backfill:  # written when it was first read
                return
        elif participant not in participants.texts and not participants.spelt_otherwise(
            participant
        ):
            if not backfill:
                name = table_name(recorded.type)
                excluded = self.record.excluded_events
                excluded[name] = excluded.get(name, 0) + 1
            return
        recorded_at = recorded.recorded_at
        if recorded_at is not self._month_of[0]:  # the events of a commit share their time
            moment = recorded_at.astimezone(UTC)
            # strftime's "%Y-%m" at a tenth of the cost
            self._month_of = (recorded_at, f"{moment.year:04d}-{moment.month:02d}")
        taken = (recorded.event_id, recorded_at, service, row)
        self.pending.add(recorded.type, self._month_of[1], taken)

    async def _commit(self, manifest: Manifest, cursor: Cursor, *, final: bool) -> None:
        """Write the pending rows, then the manifest that lists them (and, at the end of the
        run, the database file)."""
        assert self.record is not None
        out = self.request.out
        if self.pending.count:
            files, rows = self.pending.flush(out, self.run_id, self.chunks)
            self.chunks += 1
            self.record.files.extend(files)
            for table, count in rows.items():
                self.record.rows[table] = self.record.rows.get(table, 0) + count
        now = self.clock()
        self.record.committed_at = now
        self.record.reached = dict(cursor)
        runs = [run for run in manifest.runs if run.run != self.run_id]
        manifest.runs = [*runs, self.record.model_copy(deep=True)]
        manifest.cursor = dict(cursor)
        manifest.updated_at = now
        manifest.tables = rows_by_table(out, manifest.files())
        # The population is committed with the rows written for it: a run resumed after a
        # crash neither backfills a participant twice nor forgets to remove one.
        manifest.population = list(self.population)
        manifest.participants = len(self.population)
        manifest.excluded_participants = self.excluded_participants
        if not _same_table(out / DIMENSION, self.dimension):
            write_parquet(self.dimension, out / DIMENSION)
        if final:
            build_database(out)
        write_manifest(out, manifest)
