"""The analytics export (`bvb analytics export --from stores`): events/s into Parquet against a
peer that reads the same rows raw from the same stores and writes them with pyarrow unchanged.

`analytics.export.throughput` (events/s; issue 16's target: ratio >= 0.5):
- the stores: the services' SQLite stores (identity, consent, diagnostics, events) in a
  temporary directory, holding per participant what a season gives: a registration (sealed
  ФИО, birth date, СНИЛС, health fields), a verified consent (two thirds of them covering
  `pseudonymised_analytics`), three completed diagnostics stages, a booking and an attendance:
  7 events each, 1,000,000 in all (quick: 50,000), appended in batches before timing;
- ours: one `ExportRun` from nothing into an empty directory: the population pass over
  identity's and consent's history (their events held for the export, ADR 0087), each published
  event as the row of its newest version (the stores' newest-version JSON read as stored, older
  versions decoded and upcast with the contract catalogue), the consent filter, pseudonymising
  every id (HMAC-SHA256), typed columns,
  Parquet (zstd) per type and month, the DuckDB file and the manifest, all fsynced; with the
  garbage collector tuned as `bvb analytics export` tunes it for its run (ADR 0083: the
  projection workers' policy, `bilet.projections.collector`, ADR 0074);
- peer: the same stores read with the same `read_all` pages, every row written unchanged
  (stream id, version, position, event id, type, data and metadata bytes, recorded time) with
  pyarrow into Parquet (zstd), one file per 100,000 rows: no decoding, no filter, no hashing;
- both count every published event they read (ours also the ones it leaves out), from the
  start of the run to its last file; rounds: 3 (alternating), medians reported. The peer is
  measured a second time under the same collector policy and reported beside it
  (`peer_same_collector`, `ratio_same_collector`): the policy speeds the peer up too;
- beside the clock, the process's CPU time of each side (`time.process_time`, SQLite's reader
  thread included): `ratio_cpu` (ours against the peer under the same policy, events per CPU
  second, medians) — on a machine shared with other work the clock mostly measures the others.
"""

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.result import BenchResult, ratio_at_least
from benchmarks.rounds import ROUNDS, median, rounds_detail
from bilet.analytics import ExportRequest, ExportRun, StoreSource
from bilet.analytics.export import EXPORT_YOUNG
from bilet.contracts import CATALOGUE
from bilet.contracts import examples as ex
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import EventStore, NewEvent, StreamAppend
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.projections.collector import CollectorSettings, restore_collector, tune_collector

RATIO_TARGET: Final = 0.5
EVENTS_PER_PARTICIPANT: Final = 7
PAGE: Final = 2000
PEER_FILE_ROWS: Final = 100_000
BATCH_PARTICIPANTS: Final = 500
SERVICES: Final = ("identity", "consent", "diagnostics", "events")
RAW_SCHEMA: Final = pa.schema(
    [
        ("stream_id", pa.string()),
        ("version", pa.int64()),
        ("position", pa.int64()),
        ("event_id", pa.string()),
        ("type", pa.string()),
        ("data", pa.binary()),
        ("metadata", pa.binary()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class Sizes:
    participants: int
    rounds: int


QUICK: Final = Sizes(participants=50_000 // EVENTS_PER_PARTICIPANT, rounds=ROUNDS)
FULL: Final = Sizes(participants=1_000_000 // EVENTS_PER_PARTICIPANT, rounds=ROUNDS)


def _template(event_type: str, **changes: Any) -> tuple[str, str]:
    model = CATALOGUE.latest(event_type)
    data = {**ex.EXAMPLES[(event_type, model.schema_version)], **changes}
    model.model_validate_json(json.dumps(data))  # a valid event, or the bench is wrong
    return event_type, json.dumps(data, ensure_ascii=False)


def _templates() -> dict[str, list[tuple[str, str]]]:
    """Per service, the participant's events as JSON with the example's ids to replace."""
    analytics = ["programme_participation", "online_diagnostics", "pseudonymised_analytics"]
    return {
        "identity": [_template("ParticipantRegistered", season=2019)],
        "consent": [_template("ConsentVerified", purposes=analytics, valid_until="2099-12-31")],
        "diagnostics": [_template("StageCompleted")] * 3,
        "events": [_template("SeatBooked"), _template("CareerEventAttended")],
    }


async def seed(stores: dict[str, EventStore], participants: int) -> int:
    templates = _templates()
    no_analytics = templates["consent"][0][1].replace(', "pseudonymised_analytics"', "")
    version = {t: CATALOGUE.latest(t).schema_version for t in CATALOGUE.event_types()}
    written = 0
    for first in range(0, participants, BATCH_PARTICIPANTS):
        # per service, per stream: one append each (bookings share their career events' streams)
        batches: dict[str, dict[str, list[NewEvent]]] = {service: {} for service in SERVICES}
        for number in range(first, min(first + BATCH_PARTICIPANTS, participants)):
            pupil = str(uuid.uuid4())
            for service, events in templates.items():
                for event_type, text in events:
                    if event_type == "ConsentVerified" and number % 3 == 2:
                        text = no_analytics
                    attempt = str(uuid.uuid4())
                    body = text.replace(ex.PARTICIPANT, pupil).replace(ex.ATTEMPT, attempt)
                    body = body.replace(ex.BOOKING, str(uuid.uuid5(uuid.NAMESPACE_OID, pupil)))
                    meta = b'{"schema_version":%d}' % version[event_type]
                    stream = _stream_of(service, pupil, attempt)
                    batches[service].setdefault(stream, []).append(
                        NewEvent(event_type, body.encode(), meta)
                    )
                    written += 1
        for service, streams in batches.items():
            await stores[service].append_many([StreamAppend(s, e) for s, e in streams.items()])
    return written


def _stream_of(service: str, pupil: str, attempt: str) -> str:
    match service:
        case "identity":
            return f"participant-{pupil}"
        case "consent":
            return f"consent-{pupil}"
        case "diagnostics":
            return f"attempt-{attempt}"
        case _:
            # every booking on one of a hundred career events, as a season's catalogue
            return f"career_event-{uuid.uuid5(uuid.NAMESPACE_OID, pupil[:2])}"


async def ours(stores: dict[str, EventStore], out: Path) -> tuple[float, int]:
    collector = tune_collector(CollectorSettings(young=EXPORT_YOUNG))  # as the CLI does
    try:
        started = time.perf_counter()
        report = await ExportRun(
            StoreSource(stores), InMemoryKeyStore(), ExportRequest("bench", out)
        ).execute()
        elapsed = time.perf_counter() - started
    finally:
        restore_collector(collector)
    read = sum(report.manifest.tables.values()) + sum(report.excluded_events.values())
    return elapsed, read


async def peer_same_collector(stores: dict[str, EventStore], out: Path) -> tuple[float, int]:
    collector = tune_collector(CollectorSettings(young=EXPORT_YOUNG))
    try:
        return await peer(stores, out)
    finally:
        restore_collector(collector)


async def peer(stores: dict[str, EventStore], out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    rows: list[dict[str, object]] = []
    files = read = 0
    for service, store in stores.items():
        types = sorted(CATALOGUE.event_types_of(service))
        position = 0
        while page := await store.read_all(position, PAGE, event_types=types):
            for event in page:
                rows.append(
                    {
                        "stream_id": event.stream_id,
                        "version": event.version,
                        "position": event.position,
                        "event_id": str(event.event_id),
                        "type": event.type,
                        "data": event.data,
                        "metadata": event.metadata,
                        "recorded_at": event.recorded_at,
                    }
                )
            read += len(page)
            position = page[-1].position
            if len(rows) >= PEER_FILE_ROWS:
                files = _write_raw(rows, out, files)
    _write_raw(rows, out, files)
    return time.perf_counter() - started, read


def _write_raw(rows: list[dict[str, object]], out: Path, files: int) -> int:
    if rows:
        pq.write_table(
            pa.Table.from_pylist(rows, schema=RAW_SCHEMA),
            out / f"{files}.parquet",
            compression="zstd",
        )
        rows.clear()
        files += 1
    return files


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as directory:
        root = Path(directory)
        stores: dict[str, EventStore] = {
            service: await SqliteEventStore.open(root / f"{service}.sqlite3")
            for service in SERVICES
        }
        try:
            events = await seed(stores, sizes.participants)
            rates: dict[str, list[float]] = {"ours": [], "peer": [], "peer_same_collector": []}
            per_cpu: dict[str, list[float]] = {side: [] for side in rates}
            for round_number in range(sizes.rounds):
                sides = [
                    ("ours", ours),
                    ("peer", peer),
                    ("peer_same_collector", peer_same_collector),
                ]
                if round_number % 2:
                    sides.reverse()
                for side, measure in sides:
                    out = root / f"{side}-{round_number}"
                    out.mkdir()
                    cpu = time.process_time()
                    elapsed, read = await measure(stores, out)
                    cpu = time.process_time() - cpu
                    assert read == events, f"{side} read {read} of {events} events"
                    rates[side].append(read / elapsed)
                    per_cpu[side].append(read / cpu)
        finally:
            await asyncio.gather(*(store.close() for store in stores.values()))
    tuned = rates["peer_same_collector"]
    yield BenchResult(
        bench="analytics.export.throughput",
        ours=median(rates["ours"]),
        peer=median(rates["peer"]),
        unit="events/s",
        extra={
            "events": events,
            "rounds": sizes.rounds,
            "store": "sqlite",
            "quick": quick,
            **rounds_detail(rates["ours"], rates["peer"]),
            "rounds_peer_same_collector": [round(value, 2) for value in tuned],
            "peer_same_collector": round(median(tuned), 1),
            "ratio_same_collector": round(median(rates["ours"]) / median(tuned), 3),
            "ours_per_cpu_second": round(median(per_cpu["ours"]), 1),
            "peer_same_collector_per_cpu_second": round(median(per_cpu["peer_same_collector"]), 1),
            "ratio_cpu": round(median(per_cpu["ours"]) / median(per_cpu["peer_same_collector"]), 3),
        },
        targets=(ratio_at_least(RATIO_TARGET),),
    )
