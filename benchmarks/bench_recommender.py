"""The recommender's production runtime, the faust worker (ADR 0038), issuing recommendations for
a replayed season through real Kafka, against the kernel's projection runtime consuming the same
topics in the same run.

`recommender.issuing.throughput` (facts/s; ratio = worker / kernel):
- the season: `issuing_testing.build_season` of 10,000 pupils (quick: 600) in two regions, as
  the recommender's integration tests build it (identities with sealed names and needs, consents,
  the three stages for most, career events attended with mentor feedback for some), on four
  fresh topics of 3 partitions; the catalogue (career events, schools, a club in each store) is
  taken in by both runtimes before the pupils, as in the programme and the parity test;
- ours: the faust worker (`python -m bilet_recommender.worker`, its own app id, PostgreSQL store
  and read model), running throughout; a round's time is from the start of producing a third of
  the pupils' facts to the moment every one of those pupils' last set in its store equals the
  reference (the same season through the embedded runtime in memory, computed beforehand);
- peer: the kernel's `issuing_projection` on a `KafkaFeed` (`catch_up`, no group), with a store
  and read model of its own, over the same topics right after the worker finished the round
  (the worker then idles): from the start of the catch-up to the end offsets;
- rounds: 3, one third of the pupils each (the rounds' facts are about different pupils, so each
  round issues sets afresh); medians reported; `sets_unlike_reference` counts, per runtime, the
  pupils whose set in force at the end differs from the reference (0: identical);
  `worker_cpu_ms_per_fact`: the worker process's CPU per fact in each round (ADR 0070: its own
  cost, which the machine's load does not change the way it changes facts/s).

`recommender.issuing.latency_p99` (ms, no peer; target <= 1000 ms, issue #15): after the rounds,
3,000 more pupils (quick: 600) are taken in without their last stage (the bench waits until
the worker has folded every one of those facts: ADR 0047); then their last
`StageCompleted` records are produced at 200 per second, and a sample is the time from one being
handed to the producer to the worker appending that pupil's first set (`recorded_at`, the
database's clock); p50 in the line (`benchmarks/recommender_latency.py`). The issue's own
measure, to the set visible in the portfolio (through the relay and the portfolio's feed, each
in a process, `benchmarks/recommender_portfolio.py`), is in the line as `portfolio_p50_ms` and
`portfolio_p99_ms` (ADR 0070): to the commit of the portfolio feed's transaction that wrote the
set, by the server's commit time where it records it, else by the feed's clock (`visible_method`;
ADR 0104); the bench's own first read as `portfolio_read_p*_ms`. The headline stays the append,
comparable with ADRs 0047 and 0063.

The worker's figure includes the time the facts take to be produced (it consumes while they
arrive); the kernel's does not (they are on the topics already). So the ratio leans towards
the kernel's runtime.

When Kafka or PostgreSQL cannot be reached, the line says `"skipped": true` with the error.
"""

import asyncio
import dataclasses
import os
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from benchmarks.infra import database_url, kafka_bootstrap, unreachable
from benchmarks.recommender_latency import paced_latencies, split_final_stages, summary
from benchmarks.recommender_world import Published, SetsSeen, World, chunk_records, season_records
from benchmarks.result import BenchResult, ours_at_most
from benchmarks.rounds import ROUNDS, median, rounds_detail
from bilet import stores
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.eventstore import RecordedEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet.settings import PlatformSettings
from bilet_recommender.issuing_testing import (
    Season,
    append_all,
    build_season,
    issued,
    latest,
    run_embedded,
)

THROUGHPUT: Final = ("recommender.issuing.throughput", "facts/s")
LATENCY: Final = ("recommender.issuing.latency_p99", "ms")
PUPILS_FULL: Final = 10_000
PUPILS_QUICK: Final = 600
# Pupils whose last stage is paced at `RATE` per second after the throughput rounds.
LATENCY_PUPILS_FULL: Final = 3000
LATENCY_PUPILS_QUICK: Final = 600
RATE: Final = 200.0
# A diagnostic (ADR 0091): another rate shows whether the latency at `RATE` is the worker's
# capacity on the machine or a wait on the way (the line names the rate it ran at).
RATE_VARIABLE: Final = "BENCH_RECOMMENDER_RATE"
LATENCY_TARGET_MS: Final = 1000.0
WORKER_START_SECONDS: Final = 180.0
ROUND_SECONDS: Final = 900.0  # a bounded wait: a worker that stops issuing fails the bench


async def _until(what: str, check: Any, seconds: float, every: float = 0.2) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"{what}: not reached in {seconds:.0f} s")
        await asyncio.sleep(every)


def _thirds(pupils: Sequence[UUID]) -> list[list[UUID]]:
    size = -(-len(pupils) // ROUNDS)
    return [list(pupils[i : i + size]) for i in range(0, len(pupils), size)]


async def _worker_round(
    world: World,
    records: dict[str, list[RecordedEvent]],
    pupils: list[UUID],
    seen: SetsSeen,
    expected: dict[UUID, RecommendationsIssued],
) -> float:
    """Seconds from producing the pupils' facts to the worker's sets in force all expected."""
    wanted = {pid: expected[pid] for pid in pupils if pid in expected}

    async def all_issued() -> bool:
        await seen.read_on()
        return all(seen.latest.get(pid) == s for pid, s in wanted.items())

    started = time.perf_counter()
    await world.produce_facts(records)
    await _until("the worker's sets", all_issued, ROUND_SECONDS)
    return time.perf_counter() - started


def _cpu_ms_per_fact(before: float | None, after: float | None, facts: int) -> float | None:
    return None if before is None or after is None else round((after - before) / facts * 1000, 2)


async def measure(bootstrap: str, dsn: str, quick: bool) -> list[BenchResult]:
    with tempfile.TemporaryDirectory(prefix="bench-rec-") as tmp:
        var_dir = Path(tmp) / "var"
        keystore = await stores.open_key_store(
            PlatformSettings(var_dir=var_dir, key_store="sqlite")
        )
        world = World(bootstrap, dsn, var_dir, keystore)
        try:
            return await _measure(world, Path(tmp), quick)
        finally:
            await world.close()
            await keystore.close()


async def _measure(world: World, tmp: Path, quick: bool) -> list[BenchResult]:
    pupils = PUPILS_QUICK if quick else PUPILS_FULL
    rate = float(os.environ.get(RATE_VARIABLE) or RATE)
    paced = LATENCY_PUPILS_QUICK if quick else LATENCY_PUPILS_FULL
    season = await build_season(world.keystore, pupils + paced)
    measured, paced_pupils = season.pupils[:pupils], season.pupils[pupils:]
    reference = InMemoryEventStore()
    embedded = await run_embedded(
        tmp / "embedded", _only(season, measured), world.keystore, reference
    )
    await embedded.close()
    expected = latest(await issued(reference))

    await world.create_topics()
    worker_store = await world.open_store("worker")
    worker_rm = await world.open_read_model("worker_rm")
    kernel_store = await world.open_store("kernel")
    kernel_rm = await world.open_read_model("kernel_rm")
    for store in (worker_store, kernel_store):
        await append_all(store, season.opportunities)
    await world.produce_catalogue(season)
    kafka_feed, own_feed = world.kernel_feeds(kernel_rm, kernel_store)
    await own_feed.catch_up({})
    await kafka_feed.catch_up({})  # the catalogue, before the pupils

    world.start_worker(tmp / "worker.log")
    offers = len(season.career_events) + len(season.opportunities)

    async def catalogue_in() -> bool:
        return await world.worker_catalogue(worker_rm) == offers

    await _until("the catalogue in the worker's read model", catalogue_in, WORKER_START_SECONDS)

    seen = SetsSeen(worker_store)
    ours: list[float] = []
    peers: list[float] = []
    # The worker's CPU per fact in each round (ADR 0070): its own cost, whatever the load.
    cpu_per_fact: list[float | None] = []
    facts_per_round: list[int] = []
    published: dict[str, list[Published]] = season_records(season)
    for chunk in _thirds(measured):
        records = chunk_records(published, set(chunk))
        facts = sum(len(r) for r in records.values())
        facts_per_round.append(facts)
        cpu_before = world.worker_cpu_seconds()
        ours.append(facts / await _worker_round(world, records, chunk, seen, expected))
        cpu_per_fact.append(_cpu_ms_per_fact(cpu_before, world.worker_cpu_seconds(), facts))
        started = time.perf_counter()
        await kafka_feed.catch_up({})
        peers.append(facts / (time.perf_counter() - started))
    before, finals = split_final_stages(published, paced_pupils)
    samples, breakdown = await paced_latencies(
        world, seen, before, finals, season.recommended & set(paced_pupils), rate
    )
    world.stop_worker()

    kernel_sets = latest(await issued(kernel_store))
    await seen.read_on()
    details: dict[str, Any] = {
        "pupils": pupils,
        "facts_per_round": facts_per_round,
        "sets_in_force": len(expected),
        # Pupils whose set in force differs from the reference (or who lack one / got one).
        "sets_unlike_reference": {
            "worker": _unlike({p: seen.latest[p] for p in measured if p in seen.latest}, expected),
            "kernel": _unlike(kernel_sets, expected),
        },
        "source_partitions": 3,
        "worker_partitions": 4,
        "worker_cpu_ms_per_fact": cpu_per_fact,
        "quick": quick,
        **rounds_detail(ours, peers),
    }
    p50, p99 = summary(samples)
    latency = BenchResult(
        LATENCY[0],
        p99,
        None,
        LATENCY[1],
        {
            "p50_ms": round(p50, 1),
            "samples": len(samples),
            "rate_per_s": rate,
            "quick": quick,
            **breakdown,
        },
        # The target is at `RATE` only: another rate is a diagnostic.
        (ours_at_most(LATENCY_TARGET_MS),) if rate == RATE else (),
    )
    throughput = BenchResult(THROUGHPUT[0], median(ours), median(peers), THROUGHPUT[1], details)
    return [throughput, latency]


def _only(season: Season, pupils: Sequence[UUID]) -> Season:
    """The season with the facts of `pupils` only (the catalogue whole)."""
    chosen = set(pupils)
    facts = {
        source: [f for f in facts if getattr(f, "participant_id", None) in chosen]
        for source, facts in season.facts.items()
    }
    return dataclasses.replace(season, facts=facts, pupils=list(pupils))


def _unlike(
    sets: dict[UUID, RecommendationsIssued], expected: dict[UUID, RecommendationsIssued]
) -> int:
    return sum(1 for pid in sets.keys() | expected.keys() if sets.get(pid) != expected.get(pid))


def _skipped(error: str) -> list[BenchResult]:
    return [
        BenchResult(bench, 0.0, None, unit, {"skipped": True, "error": error})
        for bench, unit in (THROUGHPUT, LATENCY)
    ]


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    bootstrap = kafka_bootstrap()
    dsn = database_url()
    try:
        error = await unreachable(bootstrap, dsn)
        results = _skipped(error) if error else await measure(bootstrap, dsn, quick)
    except Exception as failure:
        results = _skipped(repr(failure))
    for result in results:
        yield result
