"""Answer saves of the online diagnostics through the API on PostgreSQL, against a bare peer.

A region's whole cohort answers in the same afternoon (issue #13). Both sides are ASGI apps
served in this process and driven by the same generator (httpx over the ASGI transport, the same
bodies, the same concurrency), so the figure is what the service adds over the bare minimum:

- ours: `PUT /diagnostics/v1/attempts/{id}/answers/{item_id}` of the real app (`create_app`: the
  service kit, the bearer token verified, the attempt and its sheet read, the answer sealed with
  the pupil's key and appended to PostgreSQL, the write audited), over attempts of the interests
  stage started by as many pupils, every save changing its item's answer (the same answer again
  records nothing, which is not what the peer's insert does);
- peer: a bare FastAPI route taking the same body and inserting the same row (attempt, item,
  option) into a PostgreSQL table with asyncpg.

Figures: `diagnostics.answer_saves` (saves per second at `CONCURRENCY` requests in flight; higher
is better, the ratio is ours / peer, the issue asks ≥ 0.5; beside it each side's process CPU
per save, `time.process_time` over its rounds: server and the httpx client alike, the same
client on both sides, PostgreSQL's own CPU not counted — what a loaded machine disturbs less
than saves per second, docs/adr/0112), and
`diagnostics.answer_save_p99_at_500` (p99 latency in ms while saves arrive at 500 per second for
`SECONDS`, the issue asks ≤ 50; the peer's beside it).
"""

import asyncio
import contextlib
import itertools
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import BaseModel

from benchmarks.infra import database_url, drop_schemas, percentile, unreachable
from benchmarks.result import BenchResult, ours_at_most, ratio_at_least
from benchmarks.rounds import ROUNDS, median, rounds_detail
from bilet.contracts.vocabulary import Stage
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet_diagnostics.app import create_app
from bilet_diagnostics.settings import DiagnosticsSettings
from bilet_diagnostics.testing import REGION, SCHOOL_3, STAGES, StaticFacts, Window

CONCURRENCY: Final = 32
RATE: Final = 500  # saves per second for the latency figure


@dataclass(frozen=True)
class Sizes:
    pupils: int
    saves: int
    seconds: float


P99_BENCH: Final = "diagnostics.answer_save_p99_at_500"
SAVES_RATIO_TARGET: Final = 0.5
P99_TARGET_MS: Final = 50.0
QUICK = Sizes(pupils=40, saves=1_000, seconds=3)
FULL = Sizes(pupils=200, saves=8_000, seconds=10)
Send = Callable[[int], Coroutine[Any, Any, float]]


class Answer(BaseModel):
    option_id: str


def peer_app(pool: asyncpg.Pool, table: str) -> FastAPI:
    app = FastAPI()

    @app.put("/attempts/{attempt_id}/answers/{item_id}")
    async def save(attempt_id: uuid.UUID, item_id: str, body: Answer) -> dict[str, Any]:
        await pool.execute(
            f"INSERT INTO {table} (attempt_id, item_id, option_id) VALUES ($1, $2, $3)",  # noqa: S608 - our own table name
            attempt_id,
            item_id,
            body.option_id,
        )
        return {"attempt_id": str(attempt_id), "item_id": item_id, "recorded": True}

    return app


async def throughput(send: Send, saves: int) -> tuple[float, float]:
    """Saves per second with CONCURRENCY requests in flight, and the process's CPU
    milliseconds per save meanwhile."""
    counter = iter(range(saves))

    async def worker() -> None:
        for n in counter:
            await send(n)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    cpu_ms = (time.process_time() - cpu) * 1000 / saves
    return saves / (time.perf_counter() - started), cpu_ms


async def latencies_at_rate(send: Send, seconds: float) -> list[float]:
    """Milliseconds of each save while saves are sent at RATE per second (open loop)."""
    tasks = []
    started = time.perf_counter()
    for n in range(int(RATE * seconds)):
        delay = started + n / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(n)))
    return list(await asyncio.gather(*tasks))


def timed(call: Callable[[int], Awaitable[httpx.Response]]) -> Send:
    async def send(n: int) -> float:
        began = time.perf_counter()
        response = await call(n)
        if response.status_code != 200:
            raise AssertionError(response.text)
        return (time.perf_counter() - began) * 1000

    return send


@contextlib.asynccontextmanager
async def ours(var_dir: Path, dsn: str, schema: str, sizes: Sizes) -> AsyncIterator[Send]:
    """The service with `sizes.pupils` pupils, each with an interests attempt started."""
    today = datetime.now(UTC).date()
    season = today.year if today.month >= 9 else today.year - 1
    facts = StaticFacts()
    facts.rules[season] = STAGES
    facts.windows.append(
        Window(REGION, season, STAGES, date(season, 9, 1), date(season + 1, 8, 31))
    )
    settings = DiagnosticsSettings(
        var_dir=var_dir,
        event_store="postgres",
        key_store="sqlite",
        database_url=dsn,
        diagnostics_store_schema=schema,
    )
    app = create_app(settings, facts=facts)
    signer = ensure_development_keys(var_dir)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ours") as client:
            sheets: list[tuple[dict[str, str], str, list[tuple[str, list[str]]]]] = []
            for _ in range(sizes.pupils):
                pupil = uuid.uuid4()
                facts.add_pupil(pupil, SCHOOL_3, REGION, seasons=(season,))
                headers = {
                    "Authorization": f"Bearer {signer.mint(Role.PUPIL, participant=str(pupil))}"
                }
                started = await client.post(
                    "/diagnostics/v1/attempts",
                    headers=headers,
                    json={"participant_id": str(pupil), "stage": Stage.INTERESTS.value},
                )
                attempt = started.json()
                items = [
                    (i["item_id"], [c["option_id"] for c in i["choices"]]) for i in attempt["items"]
                ]
                sheets.append((headers, attempt["attempt_id"], items))

            sent = itertools.count()

            async def save(_: int) -> httpx.Response:
                # Every save changes its item's answer, as the peer's inserts every row: pupil
                # after pupil, then item after item, each pass over the items with the next
                # option (the same answer again would record nothing and cost less).
                n = next(sent)
                headers, attempt_id, items = sheets[n % len(sheets)]
                item_id, options = items[(n // len(sheets)) % len(items)]
                answer_pass = n // (len(sheets) * len(items))
                response = await client.put(
                    f"/diagnostics/v1/attempts/{attempt_id}/answers/{item_id}",
                    headers=headers,
                    json={"option_id": options[answer_pass % len(options)]},
                )
                if response.status_code == 200 and not response.json()["recorded"]:
                    raise AssertionError(f"a save recorded nothing: {response.text}")
                return response

            yield timed(save)


@contextlib.asynccontextmanager
async def peer(dsn: str, schema: str) -> AsyncIterator[Send]:
    connection = await asyncpg.connect(dsn)
    table = f'"{schema}".answers'
    try:
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.execute(
            f"CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, attempt_id UUID NOT NULL, "
            "item_id TEXT NOT NULL, option_id TEXT NOT NULL)"
        )
    finally:
        await connection.close()
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
    try:
        transport = httpx.ASGITransport(app=peer_app(pool, table))
        async with httpx.AsyncClient(transport=transport, base_url="http://peer") as client:
            attempts = [uuid.uuid4() for _ in range(50)]

            async def save(n: int) -> httpx.Response:
                return await client.put(
                    f"/attempts/{attempts[n % len(attempts)]}/answers/ip_{n % 60 + 1:02d}",
                    json={"option_id": str(n % 5)},
                )

            yield timed(save)
    finally:
        await pool.close()


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    sizes = QUICK if quick else FULL
    dsn = database_url()
    if (why := await unreachable(None, dsn)) is not None:
        for bench, unit in (("diagnostics.answer_saves", "saves/s"), (P99_BENCH, "ms")):
            yield BenchResult(bench, 0.0, None, unit, {"skipped": True, "error": why})
        return
    tag = uuid.uuid4().hex[:8]
    schemas = (f"bench_diagnostics_{tag}", f"bench_diagnostics_peer_{tag}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-diagnostics-") as directory:
            async with (
                ours(Path(directory), dsn, schemas[0], sizes) as ours_send,
                peer(dsn, schemas[1]) as peer_send,
            ):
                await throughput(ours_send, 100)  # warm-up, not counted
                await throughput(peer_send, 100)
                ours_rates: list[float] = []
                peer_rates: list[float] = []
                ours_cpu: list[float] = []
                peer_cpu: list[float] = []
                for number in range(ROUNDS):  # sides alternating
                    sides = [(ours_send, ours_rates, ours_cpu), (peer_send, peer_rates, peer_cpu)]
                    for send, rates, cpu in sides if number % 2 == 0 else sides[::-1]:
                        rate, cpu_ms = await throughput(send, sizes.saves)
                        rates.append(rate)
                        cpu.append(cpu_ms)
                yield BenchResult(
                    "diagnostics.answer_saves",
                    median(ours_rates),
                    median(peer_rates),
                    "saves/s",
                    {
                        "concurrency": CONCURRENCY,
                        "saves": sizes.saves,
                        "pupils": sizes.pupils,
                        "cpu_ms_per_save_ours": round(median(ours_cpu), 3),
                        "cpu_ms_per_save_peer": round(median(peer_cpu), 3),
                        **rounds_detail(ours_rates, peer_rates),
                    },
                    (ratio_at_least(SAVES_RATIO_TARGET),),
                )
                ours_ms = await latencies_at_rate(ours_send, sizes.seconds)
                peer_ms = await latencies_at_rate(peer_send, sizes.seconds)
                yield BenchResult(
                    P99_BENCH,
                    percentile(ours_ms, 0.99),
                    percentile(peer_ms, 0.99),
                    "ms",
                    {
                        "rate": RATE,
                        "seconds": sizes.seconds,
                        "ours_p50": round(percentile(ours_ms, 0.5), 1),
                        "peer_p50": round(percentile(peer_ms, 0.5), 1),
                    },
                    (ours_at_most(P99_TARGET_MS),),
                )
    finally:
        await drop_schemas(dsn, schemas)
