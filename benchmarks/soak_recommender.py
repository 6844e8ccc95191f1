"""`make soak`: the recommender's faust worker (`python -m bilet_recommender.worker`) fed a paced
season for a long time, its memory sampled (ADR 0118).

Against the real Kafka and PostgreSQL of `var/infra.env` (or `BVB_KAFKA_BOOTSTRAP` and
`BVB_DATABASE_URL`), on topics, schemas and an app id of its own (`recommender_world.World`, the
bench's world, removed at the end): the worker runs as a process of its own while the soak
produces, every second, the facts of `--rate` new pupils (a registration, a consent, their
stages — 85% all three —, a career event attended with mentor feedback for 40%), built in chunks
by `issuing_testing.build_season` and put on one season's catalogue. Every `--sample-seconds` it
reads the worker's resident memory (`/proc/PID/status`: `VmRSS`, and `VmHWM`, its peak), CPU
seconds, and `/metrics`: facts folded, sets issued, the evidence table's entries and characters,
and the collector's collections, pauses and freed objects per generation (`CollectorWatch`).
Each sample is a JSON line in `--out`; the summary, one JSON object on stdout: the resident
memory's slope after `--warmup-minutes` (MiB per hour, least squares), its peak, the memory per
participant held (slope of resident memory against the table's entries), the collector's
figures and whether the worker kept up.

    python -m benchmarks.soak_recommender --rate 50 --minutes 30 --out var/soak/rec.jsonl

The facts are about new pupils throughout, as a season's registrations and stages come: the
evidence table (in memory, an entry per participant) grows with them by design, so the slope is
read beside the table's growth (`mib_per_10k_participants`), not alone. `--population N` keeps N
pupils and then sends retakes (growth with work done, not with participants: `mib_per_100k_facts`);
`--census` or `--tracemalloc-frames` say what grew between the warm-up's end and the end. Compare
`facts_sent` with `facts_folded` in the samples: a worker far behind holds more in flight (on a
loaded 2-core machine 50 pupils/s was too many for it; 10 kept up).
"""

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final
from uuid import UUID, uuid4, uuid5

from benchmarks.infra import database_url, kafka_bootstrap, process_cpu, unreachable
from benchmarks.recommender_world import World
from bilet import stores
from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.diagnostics import StageCompleted
from bilet.contracts.cloudevents import to_record
from bilet.eventstore import RecordedEvent
from bilet.kafka import KafkaConnection
from bilet.settings import PlatformSettings
from bilet_recommender.issuing_testing import (
    DIAGNOSTICS,
    EVENTS,
    IDENTITY,
    SOURCES,
    Season,
    append_all,
    build_season,
    recorded,
)

# Pupils built per `build_season` call (about a millisecond each, between two seconds' sends).
CHUNK: Final = 200
# A new pupil's facts on average (a registration, a consent, 2.85 stages, 1.2 career event facts):
# the retakes a second brings in place of a pupil, once a population is kept.
FACTS_PER_PUPIL: Final = 6
# The season whose catalogue (regions, schools, career events, the clubs) every chunk is put on.
BASE_SEED: Final = 118
WORKER_START_SECONDS: Final = 180.0
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SERIES: Final = re.compile(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$", re.MULTILINE)
_EVENT_IDS: Final = UUID("0b9a4c57-5e1d-4f8e-a3c2-7d1e0f118118")


# ------------------------------------------------------------------ what a sample reads


def memory_of(status: str) -> tuple[float, float]:
    """(`VmRSS`, `VmHWM`) in MiB from the text of `/proc/PID/status`."""
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB$", status, re.MULTILINE))
    if len(found) != 2:
        raise ValueError("no VmRSS and VmHWM in the status")
    return int(found["VmRSS"]) / 1024, int(found["VmHWM"]) / 1024


def series_of(exposition: str) -> dict[str, float]:
    """Every sample of a Prometheus text exposition by its name with labels as written
    (`bilet_recommender_gc_pause_seconds_count{generation="2"}`)."""
    return {name: float(value) for name, value in _SERIES.findall(exposition)}


@dataclass(frozen=True)
class Sample:
    """What one look at the worker saw."""

    seconds: float  # since the worker had taken the catalogue in and the feed began
    rss_mib: float
    hwm_mib: float
    cpu_seconds: float
    pupils_sent: int
    facts_sent: int
    facts_folded: float
    sets_issued: float
    entries: float
    characters: float
    # Per generation ("0", "1", "2"): collections, seconds paused in all, the longest pause,
    # objects freed.
    collections: dict[str, float] = field(default_factory=dict)
    paused_seconds: dict[str, float] = field(default_factory=dict)
    longest_pause: dict[str, float] = field(default_factory=dict)
    collected: dict[str, float] = field(default_factory=dict)
    retakes_sent: int = 0


def per_generation(series: Mapping[str, float], name: str) -> dict[str, float]:
    """`name{generation="N"}` of `series` by N."""
    pattern = re.compile(rf'^{re.escape(name)}\{{generation="(\d)"\}}$')
    return {m.group(1): v for key, v in series.items() if (m := pattern.match(key))}


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """The least-squares slope of y over x; None for fewer than two distinct x."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def summarise(samples: Sequence[Sample], warmup_seconds: float) -> dict[str, Any]:
    """The soak's figures from its samples: slopes over the samples after the warm-up, peaks
    over all of them, the collector's totals at the last."""
    if not samples:
        raise ValueError("no samples")
    after = [s for s in samples if s.seconds >= warmup_seconds]
    last = samples[-1]
    per_hour = slope([(s.seconds / 3600, s.rss_mib) for s in after])
    per_entry = slope([(s.entries, s.rss_mib) for s in after])
    per_fact = slope([(s.facts_folded, s.rss_mib) for s in after])
    chars_per_entry = slope([(s.entries, s.characters) for s in after])

    def rounded(value: float | None, digits: int = 1) -> float | None:
        return None if value is None else round(value, digits)

    paused = last.paused_seconds
    return {
        "samples": len(samples),
        "samples_after_warmup": len(after),
        "seconds": round(last.seconds, 1),
        "rss_mib_first": rounded(samples[0].rss_mib),
        "rss_mib_at_warmup": rounded(after[0].rss_mib) if after else None,
        "rss_mib_last": rounded(last.rss_mib),
        "rss_mib_max": rounded(max(s.rss_mib for s in samples)),
        "hwm_mib": rounded(max(s.hwm_mib for s in samples)),
        "rss_mib_per_hour": rounded(per_hour),
        "mib_per_10k_participants": rounded(None if per_entry is None else per_entry * 10_000),
        "mib_per_100k_facts": rounded(None if per_fact is None else per_fact * 100_000),
        "table_characters_per_participant": rounded(chars_per_entry, 0),
        "participants": last.entries,
        "pupils_sent": last.pupils_sent,
        "retakes_sent": last.retakes_sent,
        "facts_sent": last.facts_sent,
        "facts_folded": last.facts_folded,
        "sets_issued": last.sets_issued,
        "worker_cpu_share": rounded(
            (last.cpu_seconds - samples[0].cpu_seconds) / (last.seconds - samples[0].seconds), 3
        )
        if last.seconds > samples[0].seconds
        else None,
        "gc_collections": last.collections,
        "gc_paused_seconds": {g: round(v, 3) for g, v in paused.items()},
        "gc_longest_pause_ms": {g: round(v * 1000, 1) for g, v in last.longest_pause.items()},
        "gc_collected_objects": last.collected,
    }


# ------------------------------------------------------------------ where memory went

# Put on the worker's `PYTHONPATH` by `--tracemalloc-frames` or `--census`: a thread that answers
# the soak's requests, made as files (mode's worker keeps SIGUSR1 and SIGUSR2 for itself): a
# tracemalloc snapshot (`NAME.snapshot-request`, when tracing), or a census of the objects the
# collector tracks outside its frozen generation (`NAME.census-request`): per type, how many and
# their `sys.getsizeof`, and the untracked objects they hold (strings, bytes, a dict of strings
# and what it holds: counted once each, by their holder's type). A
# census walks the heap once; tracing slows every allocation (ADR 0118: too slow for the worker
# to keep up on a loaded machine).
SITECUSTOMIZE: Final = """
import gc, json, os, sys, threading, time, tracemalloc
from pathlib import Path

def _census():
    found, held, seen = {}, {}, set()
    objects = gc.get_objects()
    own = {id(found), id(held), id(seen), id(objects)}  # the census's own, not the worker's
    for obj in objects:
        if id(obj) in own:
            continue
        kind = type(obj)
        name = f"{kind.__module__}.{kind.__qualname__}"
        entry = found.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += sys.getsizeof(obj)
        for ref in gc.get_referents(obj):
            if gc.is_tracked(ref) or id(ref) in seen:
                continue
            seen.add(id(ref))
            _held(held, f"{type(ref).__name__} held by {name}", ref)
            if type(ref) in (dict, tuple):  # untracked: only atoms in it (a str -> str dict)
                inner = f"in {type(ref).__name__} held by {name}"
                for item in [*ref.keys(), *ref.values()] if type(ref) is dict else ref:
                    if id(item) not in seen:
                        seen.add(id(item))
                        _held(held, f"{type(item).__name__} {inner}", item)
    return {**found, **held}

def _held(held, key, ref):
    entry = held.setdefault(key, [0, 0])
    entry[0] += 1
    entry[1] += sys.getsizeof(ref)

def _answer(folder):
    while True:
        for request in sorted(folder.glob("*-request")):
            name, kind = request.name.rsplit(".", 1)
            part = folder / (name + ".part")
            if kind == "census-request":
                part.write_text(json.dumps(_census()))
                os.replace(part, folder / (name + ".census"))
            elif tracemalloc.is_tracing():
                tracemalloc.take_snapshot().dump(str(part))
                os.replace(part, folder / (name + ".snapshot"))
            request.unlink()
        time.sleep(0.5)

if os.environ.get("BVB_SOAK_MEMORY_DIR"):
    folder = Path(os.environ["BVB_SOAK_MEMORY_DIR"])
    threading.Thread(target=_answer, args=(folder,), daemon=True, name="soak-memory").start()
"""
ANSWER_SECONDS: Final = 300.0


def asked(folder: Path, name: str, kind: str) -> Path:
    """Ask the worker for a `kind` ("snapshot", "census") and wait for it (`SITECUSTOMIZE`)."""
    (folder / f"{name}.{kind}-request").touch()
    done = folder / f"{name}.{kind}"
    deadline = time.monotonic() + ANSWER_SECONDS
    while not done.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker wrote no {kind} {name}")
        time.sleep(0.5)
    return done


def grown(earlier: Path, later: Path, top: int = 15) -> list[str]:
    """What grew most between two snapshots, by allocating traceback (innermost frames last)."""
    ignored = (
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
    )
    old = tracemalloc.Snapshot.load(str(earlier)).filter_traces(ignored)
    new = tracemalloc.Snapshot.load(str(later)).filter_traces(ignored)
    lines = []
    for stat in new.compare_to(old, "traceback")[:top]:
        where = " <- ".join(
            f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback[-6:])
        )
        lines.append(f"{stat.size_diff / 1024:+.0f} KiB {stat.count_diff:+d} blocks: {where}")
    return lines


def census_grown(
    earlier: Mapping[str, Sequence[int]], later: Mapping[str, Sequence[int]], top: int = 15
) -> list[str]:
    """The types (and strings held by a type) that grew most in bytes between two censuses."""
    names = earlier.keys() | later.keys()
    zero = (0, 0)
    change = {
        name: (
            later.get(name, zero)[0] - earlier.get(name, zero)[0],
            later.get(name, zero)[1] - earlier.get(name, zero)[1],
        )
        for name in names
    }
    biggest = sorted(change.items(), key=lambda item: -item[1][1])[:top]
    return [f"{size / 1024:+.0f} KiB {count:+d} objects: {name}" for name, (count, size) in biggest]


# ------------------------------------------------------------------ the stream


class Recorder:
    """Records facts as their services' stores would, across chunks: positions rising per
    source, versions per stream (a career event's stream holds every pupil's seat)."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = dict.fromkeys(SOURCES, 1)
        self.versions: dict[str, int] = {}

    def record(self, source: str, events: Sequence[DomainEvent]) -> list[RecordedEvent]:
        out = []
        for record in recorded(events, self.positions[source]):
            version = self.versions[record.stream_id] = self.versions.get(record.stream_id, -1) + 1
            event_id = uuid5(_EVENT_IDS, f"{record.stream_id}/{version}")
            out.append(record._replace(version=version, event_id=event_id))
        self.positions[source] += len(events)
        return out


def on_catalogue(base: Season, season: Season) -> list[list[tuple[str, DomainEvent]]]:
    """`season`'s facts per pupil (source, fact; in their sources' order), with `season`'s
    regions, schools, career events and their sessions and organisers put as `base`'s (the same
    code built both catalogues: their ids pair in order)."""

    def ids(events: Sequence[DomainEvent]) -> list[str]:
        return [i for e in events for i in _UUID.findall(e.model_dump_json())]

    ours = ids([*season.career_events, *season.schools])
    theirs = ids([*base.career_events, *base.schools])
    if len(ours) != len(theirs):
        raise ValueError("the chunk's catalogue is not shaped as the base's")
    to_base = dict(zip(ours, theirs, strict=True))
    by_pupil: dict[UUID, list[tuple[str, DomainEvent]]] = {pid: [] for pid in season.pupils}
    for source in SOURCES:
        for fact in season.facts[source]:
            text = _UUID.sub(lambda m: to_base.get(m.group(0), m.group(0)), fact.model_dump_json())
            moved = type(fact).model_validate_json(text)
            by_pupil[getattr(fact, "participant_id")].append((source, moved))  # noqa: B009
    return [by_pupil[pid] for pid in season.pupils]


@dataclass
class Stream:
    """New pupils on `base`'s catalogue, chunk after chunk, recorded as published; with a
    `population`, once that many were sent, retakes of their last stage instead (a new attempt
    of a stage they completed: new evidence about participants the table already holds)."""

    world: World
    base: Season
    population: int | None = None
    recorder: Recorder = field(default_factory=Recorder)
    pending: list[list[tuple[str, DomainEvent]]] = field(default_factory=list)
    chunks: int = 0
    pupils_sent: int = 0
    retakes_sent: int = 0
    # Each pupil's last stage completed (what a retake repeats), while a population is kept.
    last_stages: list[StageCompleted] = field(default_factory=list)

    async def next(self, pupils: int) -> dict[str, list[RecordedEvent]]:
        """The records of a second's `pupils` new pupils, or, once the population is reached,
        of as many retakes as those pupils would have brought facts."""
        if self.population is not None and self.pupils_sent >= self.population:
            return self.retakes(pupils * FACTS_PER_PUPIL)
        taken: list[tuple[str, DomainEvent]] = []
        for _ in range(pupils):
            if not self.pending:
                self.chunks += 1
                season = await build_season(self.world.keystore, CHUNK, BASE_SEED + self.chunks)
                self.pending = on_catalogue(self.base, season)
            facts = self.pending.pop(0)
            taken.extend(facts)
            if self.population is not None:
                stages = [f for _, f in facts if isinstance(f, StageCompleted)]
                self.last_stages.extend(stages[-1:])
        self.pupils_sent += pupils
        return self._recorded(taken)

    def retakes(self, count: int) -> dict[str, list[RecordedEvent]]:
        taken: list[tuple[str, DomainEvent]] = []
        for _ in range(count if self.last_stages else 0):
            stage = self.last_stages[self.retakes_sent % len(self.last_stages)]
            sheet = stage.answer_sheet.model_copy(update={"answer_sheet_id": uuid4()})
            retake = stage.model_copy(update={"attempt_id": uuid4(), "answer_sheet": sheet})
            taken.append((DIAGNOSTICS, retake))
            self.retakes_sent += 1
        return self._recorded(taken)

    def _recorded(self, taken: Sequence[tuple[str, DomainEvent]]) -> dict[str, list[RecordedEvent]]:
        return {
            source: self.recorder.record(source, [f for s, f in taken if s == source])
            for source in SOURCES
        }


# ------------------------------------------------------------------ the run


@dataclass
class Soak:
    world: World
    rate: float
    seconds: float
    sample_seconds: float
    out: Path
    stream: Stream
    samples: list[Sample] = field(default_factory=list)
    facts_sent: int = 0
    started: float = field(default_factory=time.monotonic)

    def sample(self) -> Sample:
        worker = self.world.worker
        assert worker is not None
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode})")
        rss, hwm = memory_of(Path(f"/proc/{worker.pid}/status").read_text())
        url = f"http://127.0.0.1:{self.world.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as answer:
            series = series_of(answer.read().decode())
        found = Sample(
            seconds=time.monotonic() - self.started,
            rss_mib=rss,
            hwm_mib=hwm,
            cpu_seconds=process_cpu(worker.pid) or 0.0,
            pupils_sent=self.stream.pupils_sent,
            retakes_sent=self.stream.retakes_sent,
            facts_sent=self.facts_sent,
            facts_folded=series.get("bilet_recommender_facts_total", 0.0),
            sets_issued=series.get("bilet_recommender_sets_issued_total", 0.0),
            entries=series.get("bilet_recommender_evidence_entries", 0.0),
            characters=series.get("bilet_recommender_evidence_characters", 0.0),
            collections=per_generation(series, "bilet_recommender_gc_pause_seconds_count"),
            paused_seconds=per_generation(series, "bilet_recommender_gc_pause_seconds_sum"),
            longest_pause=per_generation(series, "bilet_recommender_gc_pause_longest_seconds"),
            collected=per_generation(series, "bilet_recommender_gc_collected_objects_total"),
        )
        self.samples.append(found)
        with self.out.open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(found)) + "\n")
        print(
            f"soak: {found.seconds:7.0f} s  rss {rss:6.1f} MiB  hwm {hwm:6.1f} MiB  "
            f"participants {found.entries:7.0f}  folded {found.facts_folded:8.0f}"
            f"/{self.facts_sent}  gc {found.collections}",
            file=sys.stderr,
        )
        return found

    async def sampling(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.sample_seconds)

    def stop(self) -> None:
        """End the feed at its next second (SIGTERM, SIGINT): the soak then sums up what it saw."""
        self.seconds = 0.0

    async def feed(self) -> None:
        """`rate` pupils a second (their facts at once, every source), until `seconds`."""
        producer = KafkaConnection.of(self.world.bootstrap).producer(
            enable_idempotence=True, acks="all", linger_ms=5
        )
        await producer.start()
        try:
            began = time.monotonic()
            tick = 0
            while (now := time.monotonic()) - self.started < self.seconds:
                tick += 1
                due = int(self.rate * tick) - int(self.rate * (tick - 1))
                records = await self.stream.next(due)
                sent = []
                for source, chunk in records.items():
                    topic = self.world.topic_of(source)
                    for event in chunk:
                        record = to_record(event, source)
                        sent.append(
                            await producer.send(
                                topic, record.value, key=record.key, headers=record.headers
                            )
                        )
                await asyncio.gather(*sent)
                self.facts_sent += len(sent)
                if (wait := began + tick - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                elif now - began > tick + 5:
                    print("soak: the producer is behind its pace", file=sys.stderr)
        finally:
            await producer.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap, dsn = kafka_bootstrap(), database_url()
    if error := await unreachable(bootstrap, dsn):
        raise SystemExit(f"soak: {error} (source var/infra.env first)")
    with tempfile.TemporaryDirectory(prefix="soak-rec-") as tmp:
        var_dir = Path(tmp) / "var"
        keystore = await stores.open_key_store(
            PlatformSettings(var_dir=var_dir, key_store="sqlite")
        )
        world = World(bootstrap, dsn, var_dir, keystore)
        try:
            return await _run(world, args)
        finally:
            await world.close()
            await keystore.close()


async def _run(world: World, args: argparse.Namespace) -> dict[str, Any]:
    base = await build_season(world.keystore, 0, BASE_SEED)
    stream = Stream(world, base, args.population)
    await world.create_topics()
    store = await world.open_store("worker")
    read_model = await world.open_read_model("worker_rm")
    await append_all(store, base.opportunities)
    for source, events in ((EVENTS, base.career_events), (IDENTITY, base.schools)):
        await world.produce_facts({source: stream.recorder.record(source, events)})
    log = Path(args.out).with_suffix(".worker.log")
    memory_dir: Path | None = None
    if args.tracemalloc_frames or args.census:
        memory_dir = Path(args.out).with_suffix(".memory")
        memory_dir.mkdir(parents=True, exist_ok=True)
        (memory_dir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        extra = {
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(memory_dir), os.environ.get("PYTHONPATH")])
            ),
            "BVB_SOAK_MEMORY_DIR": str(memory_dir),
        }
        if args.tracemalloc_frames:
            extra["PYTHONTRACEMALLOC"] = str(args.tracemalloc_frames)
        saved = {name: os.environ.get(name) for name in extra}
        os.environ.update(extra)  # the worker's environment is the soak's (`World`)
        try:
            world.start_worker(log)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    else:
        world.start_worker(log)
    offers = len(base.career_events) + len(base.opportunities)
    deadline = time.monotonic() + WORKER_START_SECONDS
    while await world.worker_catalogue(read_model) != offers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not take the catalogue in (see {log})")
        await asyncio.sleep(1)
    soak = Soak(world, args.rate, args.minutes * 60, args.sample_seconds, Path(args.out), stream)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, soak.stop)
    sampling = asyncio.create_task(soak.sampling())
    feeding = asyncio.create_task(soak.feed())
    kinds = [k for k, on in (("snapshot", args.tracemalloc_frames), ("census", args.census)) if on]
    at_warmup: dict[str, Path] = {}
    try:
        # A sample that fails (the worker gone) ends the soak; so does the end of the feed.
        if memory_dir is not None:
            await asyncio.wait(
                {sampling, feeding, asyncio.create_task(asyncio.sleep(args.warmup_minutes * 60))},
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not (sampling.done() or feeding.done()):
                for kind in kinds:
                    at_warmup[kind] = await asyncio.to_thread(asked, memory_dir, "warmup", kind)
        await asyncio.wait({sampling, feeding}, return_when=asyncio.FIRST_COMPLETED)
        if sampling.done():
            sampling.result()
        await feeding
        # The stream stopped: what the worker still had to take, and its memory after.
        await asyncio.sleep(args.sample_seconds)
    finally:
        sampling.cancel()
        feeding.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    await asyncio.to_thread(soak.sample)
    summary = summarise(soak.samples, args.warmup_minutes * 60)
    if memory_dir is not None and at_warmup:
        if "snapshot" in at_warmup:
            at_end = await asyncio.to_thread(asked, memory_dir, "end", "snapshot")
            summary["allocations_grown_since_warmup"] = await asyncio.to_thread(
                grown, at_warmup["snapshot"], at_end
            )
        if "census" in at_warmup:
            at_end = await asyncio.to_thread(asked, memory_dir, "end", "census")
            summary["objects_grown_since_warmup"] = census_grown(
                json.loads(at_warmup["census"].read_text()), json.loads(at_end.read_text())
            )
    summary.update(
        rate_pupils_per_s=args.rate,
        minutes=args.minutes,
        warmup_minutes=args.warmup_minutes,
        chunks=stream.chunks,
        samples_file=str(args.out),
        worker_log=str(log),
    )
    return summary


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak_recommender",
        description="The recommender's faust worker fed a paced season; its memory sampled.",
    )
    parser.add_argument("--rate", type=float, default=50.0, help="new pupils a second (50)")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to feed (30)")
    parser.add_argument(
        "--warmup-minutes", type=float, default=5.0, help="left out of the slopes (5)"
    )
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="between samples (10)")
    parser.add_argument(
        "--out", default="var/soak/recommender.jsonl", help="the samples, one JSON line each"
    )
    parser.add_argument(
        "--tracemalloc-frames",
        type=int,
        default=0,
        help="trace the worker's allocations with this many frames and diff a snapshot at the "
        "warm-up's end with one at the end (0: off; tracing slows the worker and grows it)",
    )
    parser.add_argument(
        "--census",
        action="store_true",
        help="count the worker's objects by type at the warm-up's end and at the end, and show "
        "what grew (one heap walk each, cheap beside tracing)",
    )
    parser.add_argument(
        "--population",
        type=int,
        default=None,
        help="after this many pupils, retakes of their last stage instead of new pupils (as many "
        "facts a second): growth that is not the table's shows (default: new pupils throughout)",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.minutes <= 0 or args.sample_seconds <= 0 or args.warmup_minutes < 0:
        parser.error("--rate, --minutes and --sample-seconds must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    summary = asyncio.run(run(args))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
