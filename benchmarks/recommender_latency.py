"""The latency half of `bench_recommender`: the time from a pupil's last `StageCompleted` being
produced to Kafka to the faust worker appending the pupil's first `RecommendationsIssued`, with
the completions paced at a fixed rate.

The pupils' other facts (identity, consent, the first two stages, career events attended) are
produced first and taken in; then each pupil's final stage is sent, one every 1/rate s, by one
producer (as the diagnostics relay would). A sample is the set's `recorded_at` (PostgreSQL's
clock, the same machine) minus the wall-clock moment its stage was handed to the producer; and
the same to the set visible in the portfolio (`recommender_portfolio.PortfolioSeen`, ADR 0070).

`hops_ms` splits the way to the portfolio where Kafka's records show each step (their
timestamps; the bench reads the topics afterwards, so it slows nothing down): produced →
forwarded by the worker's `group_by` to its repartition topic (`repartitioned`, the record's
create time: faust fetching the source, the stream's processors) → appended to the
recommender's store (`issued`, `recorded_at`: faust fetching its repartition topic, the agent's
batch, the append) → published by the relay (`published`, the broker's append time: the read
horizon, the relay's wake-up, read and send) → visible in the portfolio (`projected`: the
portfolio's feed fetching and applying it, to the commit of the feed's transaction that wrote
it: `PortfolioSeen.visible_at`, ADR 0104). Each hop's p50 and p99 (ADR 0091, 0096); the last hop
split in steps in `projected_split_ms`, and the set visible by the feed's own clock after its
commit in `committed_p50_ms` and `committed_p99_ms` (ADR 0096)."""

import asyncio
import itertools
import json
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from aiokafka import TopicPartition

from benchmarks.infra import percentile
from benchmarks.recommender_portfolio import COMMIT_TIMESTAMP, TIMES_FILE
from benchmarks.recommender_world import Published, SetsSeen, World
from bilet.contracts.cloudevents import to_record
from bilet.eventstore import RecordedEvent
from bilet.kafka import KafkaConnection
from bilet.projections.kafka.topics import partitions_of
from bilet_recommender.application.issuing import stream_id
from bilet_recommender.issuing_testing import DIAGNOSTICS
from bilet_recommender.worker import FACTS

SETTLE_SECONDS: Final = 600.0  # bounded waits: a worker that stops issuing fails the bench


def split_final_stages(
    published: dict[str, list[Published]], pupils: Sequence[UUID]
) -> tuple[dict[str, list[RecordedEvent]], list[Published]]:
    """The pupils' records without their last stage, and their last stages (each pupil's last
    diagnostics record, in the pupils' order)."""
    chosen = set(pupils)
    last: dict[UUID, Published] = {}
    for p in published[DIAGNOSTICS]:
        if p.participant_id in chosen:
            last[p.participant_id] = p
    held_back = {id(p) for p in last.values()}
    before = {
        source: [p.record for p in items if p.participant_id in chosen and id(p) not in held_back]
        for source, items in published.items()
    }
    return before, [last[pid] for pid in pupils if pid in last]


async def paced_latencies(
    world: World,
    seen: SetsSeen,
    before: dict[str, list[RecordedEvent]],
    finals: Sequence[Published],
    issued_to: set[UUID],
    rate: float,
) -> tuple[list[float], dict[str, Any]]:
    """Milliseconds from each final stage produced to the pupil's first set appended, for the
    pupils of `issued_to` (those the reference issues a set to), and where the time went inside
    the worker (`_breakdown`)."""
    # The relay and the portfolio start now: they publish and project the sets of the rounds
    # while the facts before the last stages are taken in, and follow from there.
    portfolio = await world.start_portfolio()
    following = asyncio.create_task(portfolio.follow())
    folded_before = await world.facts_folded()
    await world.produce_facts(before)
    await _settle(world, folded_before + sum(r.type in FACTS for rs in before.values() for r in rs))
    series_before = await world.worker_series()
    cpu_before = world.worker_cpu_seconds()
    paced_from = time.perf_counter()
    producer = KafkaConnection.of(world.bootstrap).producer(
        enable_idempotence=True, acks="all", linger_ms=0
    )
    sent_at: dict[UUID, datetime] = {}
    topic = world.topic_of(DIAGNOSTICS)
    await producer.start()
    try:
        started = time.perf_counter()
        pending = []
        for number, final in enumerate(finals):
            if (wait := started + number / rate - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            record = to_record(final.record, DIAGNOSTICS)
            sent_at[final.participant_id] = datetime.now(UTC)
            pending.append(
                await producer.send(topic, record.value, key=record.key, headers=record.headers)
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    wanted = issued_to & set(sent_at)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    while not wanted <= seen.first_at.keys():
        if loop.time() > deadline:
            raise TimeoutError(f"{len(wanted - seen.first_at.keys())} pupils got no set")
        await asyncio.sleep(0.2)
        await seen.read_on()
    breakdown: dict[str, Any] = _breakdown(series_before, await world.worker_series())
    breakdown.update(_cpu(world, cpu_before, time.perf_counter() - paced_from, len(wanted)))
    try:
        await portfolio.until(wanted, SETTLE_SECONDS)
    finally:
        following.cancel()
        world.pipeline.stop()
    samples = [(seen.first_at[pid] - sent_at[pid]).total_seconds() * 1000 for pid in wanted]
    taken, committed = feed_moments(world.var_dir / TIMES_FILE, wanted)
    # Visible: when the transaction that wrote the set committed (ADR 0104), by the server's
    # commit time or else the feed's own moment; the bench's first read (ADR 0096's observer,
    # late by the bench's loop) beside it for comparison.
    visible_at = portfolio.visible_at(committed)
    breakdown["visible_method"] = portfolio.method
    for name, at in (("portfolio", visible_at), ("portfolio_read", portfolio.first_at)):
        ms = [(at[pid] - sent_at[pid]).total_seconds() * 1000 for pid in wanted if pid in at]
        if missing := len(wanted) - len(ms):
            # Percentiles over fewer pupils than were paced leave out exactly the ones without
            # a moment (a lost stamp, a NULL commit time): said in the line, not left unsaid.
            breakdown[f"{name}_missing"] = missing
            print(
                f"recommender: {missing} of {len(wanted)} pupils have no {name} moment; "
                f"its percentiles leave them out",
                file=sys.stderr,
            )
        if ms:
            p50, p99 = summary(ms)
            breakdown.update({f"{name}_p50_ms": round(p50, 1), f"{name}_p99_ms": round(p99, 1)})
    breakdown["portfolio_pupils"] = sum(pid in visible_at for pid in wanted)
    since = min(sent_at.values())
    repartitioned = await first_created(
        world.bootstrap, world.repartition_topic, {str(pid).encode(): pid for pid in wanted}, since
    )
    published = await first_created(
        world.bootstrap,
        world.published_topic,
        {stream_id(pid).encode(): pid for pid in wanted},
        since,
    )
    moments = {
        "sent": sent_at,
        "repartitioned": repartitioned,
        "issued": seen.first_at,
        "published": published,
        "projected": visible_at,
    }
    breakdown["hops_ms"] = hops(moments, wanted)
    # The last hop in steps (ADR 0096, 0104): published → the batch taken by its partition's
    # worker (`taken`: the feed's fetch, decoding and queue) → [`visible`: the server's commit
    # time, where tracked] → the feed's commit returned (`committed`: the read model's
    # transaction) → seen by the bench's read (`seen`: the NOTIFY's way, the bench's loop).
    split: dict[str, Mapping[UUID, datetime]] = {"published": published, "taken": taken}
    if portfolio.method == COMMIT_TIMESTAMP:
        split["visible"] = visible_at  # → the server's commit time of the feed's transaction
    split.update(committed=committed, seen=portfolio.first_at)
    breakdown["projected_split_ms"] = hops(split, wanted)
    # Visible by the feed's own clock: the moment its commit returned (no reader's delay).
    by_commit = [(committed[pid] - sent_at[pid]).total_seconds() * 1000 for pid in committed]
    if by_commit:
        p50, p99 = summary(by_commit)
        breakdown.update(committed_p50_ms=round(p50, 1), committed_p99_ms=round(p99, 1))
    return samples, breakdown


def feed_moments(
    times: Path, pupils: Collection[UUID]
) -> tuple[dict[UUID, datetime], dict[UUID, datetime]]:
    """When the portfolio feed's batch that applied each pupil's first set was taken by its
    partition's worker, and when it was committed (`TimedFeed`'s file; empty without it)."""
    taken: dict[UUID, datetime] = {}
    committed: dict[UUID, datetime] = {}
    if not times.exists():
        return taken, committed
    by_stream = {stream_id(pid): pid for pid in pupils}
    for stream, (started, done) in json.loads(times.read_text()).items():
        if (pid := by_stream.get(stream)) is not None:
            taken[pid] = datetime.fromtimestamp(started, UTC)
            committed[pid] = datetime.fromtimestamp(done, UTC)
    return taken, committed


def hops(
    moments: Mapping[str, Mapping[UUID, datetime]], pupils: Collection[UUID]
) -> dict[str, float]:
    """p50 and p99 of each step between consecutive moments (in `moments`' order), over the pupils
    every moment saw."""
    names = list(moments)
    common = [pid for pid in pupils if all(pid in moments[name] for name in names)]
    out: dict[str, float] = {"pupils": len(common)}
    if not common:
        return out
    for earlier, later in itertools.pairwise(names):
        steps = [
            (moments[later][pid] - moments[earlier][pid]).total_seconds() * 1000 for pid in common
        ]
        p50, p99 = summary(steps)
        out[f"{later}_p50"], out[f"{later}_p99"] = round(p50, 1), round(p99, 1)
    return out


async def first_created(
    bootstrap: str, topic: str, keys: Mapping[bytes, UUID], since: datetime
) -> dict[UUID, datetime]:
    """When the first record under each of `keys` created at or after `since` (less a second:
    the clocks are one, its milliseconds are truncated) was created, by the record's timestamp;
    the topic read from those offsets to its end as of now."""
    partitions = await partitions_of(bootstrap, [topic])
    consumer = KafkaConnection.of(bootstrap).consumer(enable_auto_commit=False)
    await consumer.start()
    found: dict[UUID, datetime] = {}
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        start_ms = int((since - timedelta(seconds=1)).timestamp() * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(partitions, start_ms))
        remaining: dict[TopicPartition, int] = {}
        for tp in partitions:
            at = starts.get(tp)
            if at is None or at.offset >= ends[tp]:
                continue
            consumer.seek(tp, at.offset)
            remaining[tp] = ends[tp]
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    pid = keys.get(record.key)
                    if pid is not None and pid not in found:
                        found[pid] = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
    finally:
        await consumer.stop()
    return found


def _breakdown(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Where the paced facts' time went inside the worker (its histograms over the paced phase):
    the mean wait from the repartitioned record to the agent's batch, the mean time of a batch's
    step, and how many batches and facts per batch."""

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    def mean(name: str) -> float:
        count = delta(f"{name}_count")
        return round(delta(f"{name}_sum") / count * 1000, 1) if count else 0.0

    batches = delta("bilet_recommender_batch_seconds_count")
    return {
        "agent_wait_mean_ms": mean("bilet_recommender_fact_wait_seconds"),
        "batch_step_mean_ms": mean("bilet_recommender_batch_seconds"),
        "batches": batches,
        "facts_per_batch": round(delta("bilet_recommender_batch_facts_sum") / batches, 1)
        if batches
        else 0.0,
    }


def _cpu(world: World, before: float | None, seconds: float, facts: int) -> dict[str, float]:
    """The worker's CPU over the paced phase: milliseconds per final stage taken in (each also
    repartitioned, folded by the read side and counted by the insights), and its share of one
    core (near 1: the worker is the limit; far below: it waits, for the machine or for I/O)."""
    after = world.worker_cpu_seconds()
    if before is None or after is None or not facts or seconds <= 0:
        return {}
    used = after - before
    return {
        "worker_cpu_ms_per_fact": round(used / facts * 1000, 2),
        "worker_cpu_share": round(used / seconds, 2),
    }


async def _settle(world: World, folded: float) -> None:
    """Wait until the worker has folded `folded` facts (its count before, and the facts about
    participants just produced), and then until its consumer group has committed everything it
    reads: the facts before the last stages are taken in by both agents before the clock starts.
    (Waiting for the count to stand still for a while measured the backlog when the worker had
    not begun on them yet: ADR 0047. The count alone left the insights agent working through
    the rounds' marks while the last stages were timed: ADR 0091.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    while await world.facts_folded() < folded:
        if loop.time() > deadline:
            raise TimeoutError(f"the worker did not fold {folded:.0f} facts")
        await asyncio.sleep(0.5)
    while not await world.worker_idle():
        if loop.time() > deadline:
            raise TimeoutError("the worker's consumer group did not commit its topics' ends")
        await asyncio.sleep(0.5)


def summary(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in ms."""
    return percentile(samples, 0.5), percentile(samples, 0.99)
