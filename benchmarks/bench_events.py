"""Pupils racing for the seats of one session through the career events API on PostgreSQL,
against the classic conditional UPDATE, measured in the same run (issue #14).

- ours: `POST /events/v1/career-events/{id}/sessions/{session}/bookings` of the real app
  (`create_app`: the service kit, the pupil's bearer token verified, the pupil's facts and
  consent, the career event and the pupil's seats read and decided on, `SeatBooked` +
  `SeatHeld` or `WaitlistJoined` appended to a PostgreSQL event store through combined commits,
  docs/adr/0035), served by uvicorn on loopback. A race: a career event freshly published with
  one session of `SEATS` seats and `PUPILS` pupils never seen before (the season's maximum and
  no-overlap rules stay out of the way), all sent at once; every race must answer exactly
  `SEATS` times 201 and `PUPILS - SEATS` times 202 with places 1 … `PUPILS - SEATS`, or the
  bench fails. The pupils' facts come from an in-memory `StaticFacts` (identity's and consent's
  read model is not what is measured).
- peer (`benchmarks/events_peer.py`): a bare FastAPI route in the same kind of uvicorn server:
  `UPDATE sessions SET taken = taken + 1 WHERE taken < capacity` (else the next place in line)
  plus the insert of the booking, in one transaction on the same PostgreSQL; the same races,
  checked the same way.
- both servers run in this process, on its event loop, with the same small HTTP/1.1 client
  (`CONNECTIONS` keep-alive connections; httpx costs ~1 ms of CPU a request, as much as the
  peer's whole work), so the client's cost is the same on both sides.

Figures: `events.bookings` (bookings per second over whole races; rounds of at least a second,
sides alternating; the issue asks ratio ≥ 0.5) and `events.booking_p99_at_200` (p99 latency in
ms from when a booking was due to its answer, bookings sent at 200 per second for `seconds`
into consecutive races of 500; the issue asks ≤ 100 ms; the peer's beside it). Each line
carries the machine's 1-minute load average before and after: on a shared machine the tail
follows it.
"""

import asyncio
import contextlib
import gc
import json
import os
import socket
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import asyncpg
import uvicorn
from fastapi import FastAPI

from benchmarks.events_peer import counts, create_tables, open_session, peer_app
from benchmarks.infra import database_url, drop_schemas, percentile, unreachable
from benchmarks.result import BenchResult, ours_at_most, ratio_at_least
from benchmarks.rounds import MIN_ROUND_SECONDS, ROUNDS, median, rounds_detail
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet_events.app import create_app
from bilet_events.application.facts import Pupil
from bilet_events.settings import EventsSettings
from bilet_events.testing import (
    CONSENTED,
    REGION,
    SCHOOL,
    SEASON,
    Clock,
    StaticFacts,
    World,
    career_event,
)

HOST: Final = "127.0.0.1"
PUPILS: Final = 500
SEATS: Final = 50
CONNECTIONS: Final = 100
RATE: Final = 200  # bookings per second for the latency figure
RATIO_TARGET: Final = 0.5
P99_TARGET_MS: Final = 100.0
THROUGHPUT_BENCH: Final = "events.bookings"
P99_BENCH: Final = f"events.booking_p99_at_{RATE}"
# The service's clock: a week before the races' sessions (the career events of the tests).
STARTS: Final = datetime(2019, 11, 20, 10, tzinfo=UTC)
NOW: Final = STARTS - timedelta(days=7)


@dataclass(frozen=True)
class Sizes:
    seconds: float  # of the latency run


QUICK = Sizes(seconds=3)
FULL = Sizes(seconds=10)


# ---------------------------------------------------------------------- the client
@dataclass(frozen=True)
class Answer:
    status: int
    waitlist_position: int | None
    seconds: float


class Client:
    """`CONNECTIONS` kept-alive HTTP/1.1 connections to one server; a request waits for a free
    one."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._all: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        for _ in range(CONNECTIONS):
            reader, writer = await asyncio.open_connection(HOST, self.port)
            self._all.append(writer)
            self._free.put_nowait((reader, writer))

    async def close(self) -> None:
        for writer in self._all:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def post(self, path: str, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode() + data
        reader, writer = await self._free.get()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            payload = await reader.readexactly(length) if length else b""
        finally:
            self._free.put_nowait((reader, writer))
        return status, json.loads(payload) if payload else None


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[Client]:
    """`app` under uvicorn (defaults but no access log and long keep-alive) on a free loopback
    port, with a client."""
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind((HOST, 0))
    port = listening.getsockname()[1]
    # Kept-alive connections stay open while the other side is measured (uvicorn closes idle
    # ones after 5 s by default).
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=3600
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if serving.done():
                raise RuntimeError("the server stopped while starting") from serving.exception()
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not start")
            await asyncio.sleep(0.05)
        client = Client(port)
        await client.open()
        try:
            yield client
        finally:
            await client.close()
    finally:
        server.should_exit = True
        await serving
        listening.close()


# ---------------------------------------------------------------------- races
@dataclass
class Race:
    """One session's racers: how to send the n-th booking, and the answers gathered."""

    send: Callable[[int], Awaitable[tuple[int, Any]]]
    answers: list[Answer] = field(default_factory=list)

    async def booking(self, number: int, due: float) -> Answer:
        status, body = await self.send(number)
        if status not in (201, 202):
            raise AssertionError(f"a booking answered {status}: {body}")
        answer = Answer(status, body["waitlist_position"], time.perf_counter() - due)
        self.answers.append(answer)
        return answer

    def check(self) -> None:
        """Exactly the seats booked, the rest in line at places 1 … PUPILS - SEATS."""
        statuses = Counter(answer.status for answer in self.answers)
        places = sorted(a.waitlist_position or 0 for a in self.answers if a.status == 202)
        if statuses != Counter({201: SEATS, 202: PUPILS - SEATS}) or places != list(
            range(1, PUPILS - SEATS + 1)
        ):
            raise AssertionError(f"a race of {PUPILS} on {SEATS} seats answered {statuses}")


Races = Callable[[], Awaitable[Race]]


def load_average() -> float:
    """The machine's 1-minute load average: other work on the same cores shows here."""
    return round(os.getloadavg()[0], 2)


@contextlib.contextmanager
def fixtures_frozen() -> Iterator[None]:
    """While a side is timed, what the bench prepared (every pupil of every race in the facts,
    their tokens, the races) is moved out of the garbage collector's sight: a full collection
    over them paused whichever side was running by 40-150 ms, the bench's heap and not the
    service's. Both sides alike."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def throughput(new_race: Races) -> float:
    """Bookings per second over whole races (all of a race's pupils sent at once; the race
    prepared before, untimed), races one after another until a second of them has passed."""
    booked = 0
    spent = 0.0
    while spent < MIN_ROUND_SECONDS:
        race = await new_race()
        with fixtures_frozen():
            began = time.perf_counter()
            await asyncio.gather(*(race.booking(n, began) for n in range(PUPILS)))
            spent += time.perf_counter() - began
        race.check()
        booked += PUPILS
    return booked / spent


async def latencies_at_rate(new_race: Races, seconds: float) -> list[float]:
    """Milliseconds of each booking, due at RATE per second (open loop) into consecutive races
    prepared beforehand; every race checked at the end."""
    total = int(RATE * seconds)
    races = [await new_race() for _ in range(-(-total // PUPILS))]
    tasks = []
    with fixtures_frozen():
        started = time.perf_counter()
        for n in range(total):
            due = started + n / RATE
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(races[n // PUPILS].booking(n % PUPILS, due)))
        answers = await asyncio.gather(*tasks)
    for race in races if total % PUPILS == 0 else races[:-1]:
        race.check()
    return [answer.seconds * 1000 for answer in answers]


# ---------------------------------------------------------------------- the two sides
@contextlib.asynccontextmanager
async def ours(var_dir: Path, dsn: str, schema: str) -> AsyncIterator[Races]:
    facts = StaticFacts(season_maximum={SEASON: 3})
    settings = EventsSettings(
        var_dir=var_dir,
        event_store="postgres",
        read_model="sqlite",
        key_store="sqlite",
        database_url=dsn,
        events_store_schema=schema,
        events_embedded_feed=False,
    )
    app = create_app(settings, clock=Clock(NOW), facts=facts)
    signer = ensure_development_keys(var_dir)
    async with served(app) as client:
        service = app.state.events
        day = 0

        async def new_race() -> Race:
            nonlocal day
            event = career_event(uuid.uuid4(), STARTS + timedelta(days=day), capacity=SEATS)
            day += 1
            await service.publish(World.as_organiser(), event)
            path = (
                f"/events/v1/career-events/{event.career_event_id}"
                f"/sessions/{event.sessions[0].session_id}/bookings"
            )
            pupils = [enrol(facts, uuid.uuid4()) for _ in range(PUPILS)]
            tokens = [signer.mint(Role.PUPIL, participant=str(p)) for p in pupils]

            async def send(n: int) -> tuple[int, Any]:
                return await client.post(path, {"participant_id": str(pupils[n])}, tokens[n])

            return Race(send)

        yield new_race


def enrol(facts: StaticFacts, participant_id: uuid.UUID) -> uuid.UUID:
    """A pupil of grade 8 in the career events' region, a consent covering career events."""
    facts.pupils[participant_id] = Pupil(
        participant_id=participant_id,
        school_id=SCHOOL,
        region_id=REGION,
        municipality="Лужский район",
        grade=8,
        season=SEASON,
        purposes=CONSENTED,
        erased=False,
        sealed_needs=None,
    )
    return participant_id


@contextlib.asynccontextmanager
async def peer(dsn: str, schema: str) -> AsyncIterator[Races]:
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
    try:
        await create_tables(pool, schema)
        async with served(peer_app(pool, schema)) as client:
            sessions: list[uuid.UUID] = []

            async def new_race() -> Race:
                session_id = await open_session(pool, schema, SEATS)
                sessions.append(session_id)
                path = f"/sessions/{session_id}/bookings"

                async def send(n: int) -> tuple[int, Any]:
                    return await client.post(path, {"participant_id": str(uuid.uuid4())}, None)

                return Race(send)

            yield new_race
            # The peer's own rows agree with its answers.
            taken, waiting = await counts(pool, schema, sessions[0])
            if (taken, waiting) != (SEATS, PUPILS - SEATS):
                raise AssertionError(f"the peer stored {taken} seats, {waiting} in line")
    finally:
        await pool.close()


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    sizes = QUICK if quick else FULL
    dsn = database_url()
    if (why := await unreachable(None, dsn)) is not None:
        for bench, unit in ((THROUGHPUT_BENCH, "bookings/s"), (P99_BENCH, "ms")):
            yield BenchResult(bench, 0.0, None, unit, {"skipped": True, "error": why})
        return
    tag = uuid.uuid4().hex[:8]
    schemas = (f"bench_events_{tag}", f"bench_events_peer_{tag}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-events-") as directory:
            async with (
                ours(Path(directory), dsn, schemas[0]) as ours_race,
                peer(dsn, schemas[1]) as peer_race,
            ):
                for warm_up in (ours_race, peer_race):  # untimed
                    race = await warm_up()
                    await asyncio.gather(*(race.booking(n, 0.0) for n in range(PUPILS)))
                    race.check()
                ours_rates: list[float] = []
                peer_rates: list[float] = []
                load_before = load_average()
                for number in range(ROUNDS):  # sides alternating
                    sides = [(ours_race, ours_rates), (peer_race, peer_rates)]
                    for new_race, rates in sides if number % 2 == 0 else sides[::-1]:
                        rates.append(await throughput(new_race))
                yield BenchResult(
                    THROUGHPUT_BENCH,
                    median(ours_rates),
                    median(peer_rates),
                    "bookings/s",
                    {
                        "pupils": PUPILS,
                        "seats": SEATS,
                        "connections": CONNECTIONS,
                        "load_average_before_after": [load_before, load_average()],
                        **rounds_detail(ours_rates, peer_rates),
                    },
                    (ratio_at_least(RATIO_TARGET),),
                )
                load_before = load_average()
                ours_ms = await latencies_at_rate(ours_race, sizes.seconds)
                peer_ms = await latencies_at_rate(peer_race, sizes.seconds)
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
                        "load_average_before_after": [load_before, load_average()],
                    },
                    (ours_at_most(P99_TARGET_MS),),
                )
    finally:
        await drop_schemas(dsn, schemas)
