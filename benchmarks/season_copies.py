"""A big simulated season in PostgreSQL event stores, made quickly: a small season simulated through
the services' use cases (`bvb simulate season`, ADR 0045), copied many times with fresh ids.

The simulator decides every event through the domain at a few hundred events/s (ADR 0056), far
too slow for a season of 100,000 pupils. Its events are valid, though, and so is a copy of them in
which every id of the season's own things (pupils, schools, consents, guardians, attempts, career
events, bookings, recommendation sets) is replaced by a fresh one, consistently within the copy:
a copy is another group of schools with their own pupils and career events, in the same regions
and season. Only what the season shares is written once, not per copy: the season's rules and the
regions with their testing windows (the streams `season-*` and `region-*`, whose ids are kept).

- Only **published** event types are copied (what a relay puts on Kafka, and all that the
  portfolio rebuild and the analytics export read); a service's internal streams (answers,
  reservations, the audit of reads) would make the stores ten times larger for readers that
  filter them out.
- **Sealed fields are copied as they are**, envelopes sealed under the template pupils' keys:
  neither the portfolio projection (it keeps envelopes, ADR 0004) nor the export (it drops sealed
  fields) opens them, so the bench's pupils need no keys of their own.
- Events are appended with the store's own `append_many` (per service, many streams a commit).
  The store stamps `recorded_at` with its clock, so a load made in a minute would put the whole
  season in one week; afterwards each service's events are laid out, in position order, over the
  month of its phase in the season's calendar (registrations in September, consents from
  mid-September, stages in October, career events in November, recommendations in December), as
  a season recorded over an autumn would be. That is a plain UPDATE of the bench's own schemas.
"""

import random
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import asyncpg

from bilet.contracts import CATALOGUE
from bilet.eventstore import EventStore, NewEvent, RecordedEvent, StreamAppend
from bilet.eventstore.postgres import PostgresEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.settings import PlatformSettings
from bilet_host.simulate import SeasonPlan, simulate_season

SERVICES: Final = ("identity", "consent", "diagnostics", "events", "recommender")
SEASON: Final = 2026
# Where each service's events are laid out in the season's calendar (start; 28 days each).
PHASES: Final = {
    "identity": datetime(SEASON, 9, 1, tzinfo=UTC),
    "consent": datetime(SEASON, 9, 15, tzinfo=UTC),
    "diagnostics": datetime(SEASON, 10, 1, tzinfo=UTC),
    "events": datetime(SEASON, 11, 1, tzinfo=UTC),
    "recommender": datetime(SEASON, 12, 1, tzinfo=UTC),
}
PHASE_DAYS: Final = 28
SHARED_STREAMS: Final = ("season-", "region-")  # written once, their ids kept
EVENTS_PER_APPEND: Final = 200
BYTES_PER_APPEND: Final = 1 << 20
UUID_TEXT: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# A text cut at its ids: literal parts at even indexes, the ids (to map per copy) at odd ones.
Pieces = tuple[str, ...]


def _pieces(text: str) -> Pieces:
    """`text` as alternating literal parts and ids (literal first and last)."""
    parts: list[str] = []
    last = 0
    for match in UUID_TEXT.finditer(text):
        parts += [text[last : match.start()], match.group()]
        last = match.end()
    parts.append(text[last:])
    return tuple(parts)


def _render(pieces: Pieces, ids: dict[str, str]) -> str:
    return "".join(ids.get(part, part) if index % 2 else part for index, part in enumerate(pieces))


@dataclass(frozen=True)
class TemplateEvent:
    type: str
    stream: Pieces
    data: Pieces
    metadata: Pieces


@dataclass(frozen=True)
class SeasonTemplate:
    """A simulated season's published events, per service in position order, cut at their ids."""

    pupils: int
    shared: dict[str, list[RecordedEvent]]  # written once
    copied: dict[str, list[TemplateEvent]]  # written once per copy, with fresh ids
    own_ids: frozenset[str]  # the ids a copy replaces

    @property
    def events_per_copy(self) -> int:
        return sum(map(len, self.copied.values()))

    @property
    def shared_events(self) -> int:
        return sum(map(len, self.shared.values()))

    def copy_ids(self, rng: random.Random) -> dict[str, str]:
        return {own: str(uuid.UUID(int=rng.getrandbits(128), version=4)) for own in self.own_ids}


async def simulated_template(plan: SeasonPlan) -> SeasonTemplate:
    """Simulate `plan` into SQLite stores in a temporary directory and cut its events."""
    directory = Path(tempfile.mkdtemp(prefix="bench-season-template-"))
    try:
        # one process, pinned: the template is the same either way, and no round of a bench
        # should take another path because the machine was busier
        report = await simulate_season(plan, directory, synchronous="NORMAL", processes=1)
        if report.refused:
            raise RuntimeError(f"the template season was refused: {report.refused}")
        settings = PlatformSettings(var_dir=directory)
        events: dict[str, list[RecordedEvent]] = {}
        for service in SERVICES:
            path = settings.sqlite_path(service)
            async with await SqliteEventStore.open(path, "NORMAL") as store:
                events[service] = await read_published(store)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return _template(plan.pupils, events)


async def read_published(store: EventStore, page: int = 10_000) -> list[RecordedEvent]:
    published = CATALOGUE.event_types()
    out: list[RecordedEvent] = []
    position = 0
    while batch := await store.read_all(position, page, event_types=published):
        out += batch
        position = batch[-1].position
    return out


def _template(pupils: int, events: dict[str, list[RecordedEvent]]) -> SeasonTemplate:
    def is_shared(event: RecordedEvent) -> bool:
        return event.stream_id.startswith(SHARED_STREAMS)

    kept = {
        found
        for recorded in events.values()
        for event in recorded
        if is_shared(event)
        for found in UUID_TEXT.findall(event.stream_id + event.data.decode())
    }
    own: set[str] = set()
    copied: dict[str, list[TemplateEvent]] = {}
    for service, recorded in events.items():
        copied[service] = []
        for event in recorded:
            if is_shared(event):
                continue
            cut = TemplateEvent(
                event.type,
                _pieces(event.stream_id),
                _pieces(event.data.decode()),
                _pieces(event.metadata.decode()),
            )
            own.update(set(cut.stream[1::2] + cut.data[1::2] + cut.metadata[1::2]) - kept)
            copied[service].append(cut)
    shared = {s: [e for e in recorded if is_shared(e)] for s, recorded in events.items()}
    return SeasonTemplate(pupils, shared, copied, frozenset(own))


def store_schemas(prefix: str) -> dict[str, str]:
    return {service: f"{prefix}_{service}" for service in SERVICES}


async def seed(
    dsn: str,
    schemas: dict[str, str],
    template: SeasonTemplate,
    copies: int,
    *,
    first: bool = True,
    seed: int = 1,
) -> int:
    """Append `copies` copies of the season (and, when `first`, the shared events once) into
    the stores (one schema per service), then lay all their times out over the season: the
    events written. Called again with `first=False` (and another `seed`), it adds more copies."""
    rng = random.Random(seed)
    id_maps = [template.copy_ids(rng) for _ in range(copies)]
    written = 0
    for service in SERVICES:
        store = await PostgresEventStore.open(dsn, schema=schemas[service], pool_size=2)
        try:
            shared = [
                StreamAppend(stream, [NewEvent(e.type, e.data, e.metadata) for e in events])
                for stream, events in _by_stream(template.shared[service]).items()
            ]
            if shared and first:
                await store.append_many(shared)
                written += sum(len(a.events) for a in shared)
            for batch in _batches(template.copied[service], id_maps):
                await store.append_many(batch)
                written += sum(len(a.events) for a in batch)
        finally:
            await store.close()
    await _lay_out_times(dsn, schemas)
    return written


def _by_stream(events: Sequence[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    streams: dict[str, list[RecordedEvent]] = {}
    for event in events:
        streams.setdefault(event.stream_id, []).append(event)
    return streams


def _batches(
    events: Sequence[TemplateEvent], id_maps: Sequence[dict[str, str]]
) -> Iterator[list[StreamAppend]]:
    """Appends of whole copies (a copy's streams are its own) of at most about
    `EVENTS_PER_APPEND` events and `BYTES_PER_APPEND` bytes: the store's append function reads
    its arrays element by element, which grows with the square of a large call's size."""
    streams: dict[str, list[NewEvent]] = {}
    count = size = 0
    for ids in id_maps:
        for event in events:
            data = _render(event.data, ids).encode()
            streams.setdefault(_render(event.stream, ids), []).append(
                NewEvent(event.type, data, _render(event.metadata, ids).encode())
            )
            count += 1
            size += len(data)
        if count >= EVENTS_PER_APPEND or size >= BYTES_PER_APPEND:
            yield [StreamAppend(stream, new) for stream, new in streams.items()]
            streams = {}
            count = size = 0
    if streams:
        yield [StreamAppend(stream, new) for stream, new in streams.items()]


async def _lay_out_times(dsn: str, schemas: dict[str, str]) -> None:
    """Each service's events over its phase's days, in position order; then ANALYZE, as a
    store that has lived a season has statistics."""
    connection = await asyncpg.connect(dsn)
    try:
        for service, schema in schemas.items():
            count = await connection.fetchval(f"SELECT count(*) FROM {schema}.events")  # noqa: S608
            step = PHASE_DAYS * 86_400 / max(1, count)
            await connection.execute(
                f"UPDATE {schema}.events e SET recorded_at = $1::timestamptz "  # noqa: S608
                f"+ n.rank * make_interval(secs => $2::double precision) "
                f"FROM (SELECT position, row_number() OVER (ORDER BY position) AS rank "
                f"FROM {schema}.events) n WHERE e.position = n.position",
                PHASES[service],
                step,
            )
            await connection.execute(f"ANALYZE {schema}.events")
    finally:
        await connection.close()
