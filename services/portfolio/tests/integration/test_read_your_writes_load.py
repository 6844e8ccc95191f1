"""Read-your-writes under load, through the distributed path: many concurrent commands of four
services, each appended to its service's PostgreSQL store, published by that service's relay to
real Kafka, applied by the portfolio worker's `KafkaFeed` to the PostgreSQL read model; and, for
each, a read of the portfolio API carrying the command's `BVB-Position` token.

The answer must reflect the command: its effect, or an explicit `409 not_yet_visible` — never a
stale portfolio. Two API processes (apps) share the read model: a hasty one that waits 0.1 s,
whose answers must each be the effect or the 409 (whichever the race gives), and a patient one
that waits 10 s, whose answers must all be the effect: zero 409s.

The API composes itself from its settings (`create_app`), and its read model is the fixed schema
`bvb_portfolio_rm`: to keep parallel runs apart, every test gets a database of its own (dropped at
the end), and its topics carry a unique suffix.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
import pytest

from bilet.contracts import CATALOGUE, EventMetadata, encode
from bilet.contracts.base import DomainEvent
from bilet.contracts.vocabulary import Stage
from bilet.crypto import FieldCipher
from bilet.eventstore import NO_STREAM, WrongExpectedVersion
from bilet.eventstore.postgres import PostgresEventStore
from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER, PositionToken
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.projections import KafkaFeed
from bilet.relay import KafkaConnector, KafkaOptions, Relay, RelayOptions, ensure_topic
from bilet.relay.postgres import PostgresPositionStore
from bilet.stores import open_key_store
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.stores import open_read_model
from bilet_portfolio.app import create_app
from bilet_portfolio.settings import SOURCES, PortfolioSettings

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids

# serial (ADR 0064): it is a load test itself, and the patient API must see every command within
# its 10 s wait, which the load of other tests beside it can exceed.
pytestmark = [pytest.mark.integration, pytest.mark.serial]

PUPILS = 100
COMMANDS = 200  # two per pupil, of different kinds
CONCURRENCY = 20
GENEROUS_WAIT = 10.0
SHORT_WAIT = 0.1  # shorter than the path usually takes under this load: both answers occur
KINDS = ("grade", "stage", "booking", "recommendations")
TODAY = date(2019, 11, 5)  # the clock of the portfolio tests: the test world's consents hold


# ---------------------------------------------------------------------- the services' side
@dataclass
class Source:
    """A service's PostgreSQL store and its relay, publishing to a topic of this test."""

    store: PostgresEventStore
    positions: PostgresPositionStore
    relay: Relay
    task: "asyncio.Task[None] | None" = None

    async def command(self, event: DomainEvent) -> str:
        """As a command handler records its decision: the stream's version read, the event
        appended with it as the expectation (again when another writer was faster); the answer's
        `BVB-Position` token."""
        new = encode(event, EventMetadata(actor="test-registrar", actor_role="registrar"))
        while True:
            version = await self.store.stream_version(event.stream_id)
            expected = NO_STREAM if version is None else version
            try:
                result = await self.store.append(event.stream_id, [new], expected)
            except WrongExpectedVersion:
                continue
            return PositionToken(event.service, result.position, result.stream_id).encode()


@contextlib.asynccontextmanager
async def sources(dsn: str, bootstrap: str, suffix: str) -> AsyncIterator[dict[str, Source]]:
    running: dict[str, Source] = {}
    try:
        for service in SOURCES:
            schema = f"bvb_{service}"
            store = await PostgresEventStore.open(dsn, schema=schema, pool_size=CONCURRENCY)
            positions = await PostgresPositionStore.open(dsn, schema=schema)
            options = KafkaOptions(bootstrap_servers=bootstrap, partitions=3)
            topic = f"bilet.{service}.{suffix}"
            await ensure_topic(options, topic)  # before the worker subscribes to it
            connect = KafkaConnector(options, service, topic=topic)
            relay = Relay(
                name=connect.topic,
                store=store,
                positions=positions,
                connect=connect,
                options=RelayOptions(event_types=frozenset(CATALOGUE.event_types_of(service))),
            )
            running[service] = Source(store, positions, relay)
            running[service].task = asyncio.create_task(relay.run())
        yield running
    finally:
        for source in running.values():
            source.relay.stop()
        for source in running.values():
            if source.task is not None:
                await source.task
            await source.positions.close()
            await source.store.close()
        await _delete_topics(bootstrap, suffix)


async def _delete_topics(bootstrap: str, suffix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        doomed = [topic for topic in await admin.list_topics() if suffix in topic]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


# ---------------------------------------------------------------------- the portfolio's side
@contextlib.asynccontextmanager
async def worker(settings: PortfolioSettings, bootstrap: str, suffix: str) -> AsyncIterator[None]:
    """The portfolio worker's feed (`worker.build_feed`) over this test's topics."""
    read_model = await open_read_model(settings)
    topics = {f"bilet.{service}.{suffix}": service for service in SOURCES}
    feed = KafkaFeed(
        read_model,
        PortfolioProjection(),
        bootstrap_servers=bootstrap,
        topics=list(topics),
        group_id=f"bilet.projection.portfolio.{suffix}",
        sources=topics,
    )
    task = asyncio.create_task(feed.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await read_model.close()


@contextlib.asynccontextmanager
async def api(settings: PortfolioSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app_lifespan(app) as manager:
        app.state.portfolio.today = lambda: TODAY
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portfolio") as client:
            yield client


def written_of(response: httpx.Response) -> str:
    """The token a request carried."""
    return response.request.headers[POSITION_HEADER]


# ---------------------------------------------------------------------- the commands
@dataclass(frozen=True)
class Command:
    pupil: UUID
    kind: str
    event: DomainEvent
    effect: "Effect"


Effect = Callable[[dict[str, Any]], bool]


def has_grade(grade: int) -> Effect:
    return lambda body: bool(body["grade"] == grade)


def lists(field: str, key: str, value: UUID) -> Effect:
    """The portfolio's `field` (a list) has an item whose `key` is `value`."""
    return lambda body: str(value) in [item[key] for item in body[field]]


async def commands(
    c: "Catalogue", ids: "Ids", pupils: list[UUID], career_event: UUID
) -> list[Command]:
    """Two commands per pupil, of two kinds: a grade corrected (identity), a stage started
    (diagnostics), a seat booked (events: all on one career event's stream, so concurrent
    bookings conflict and retry), recommendations issued (recommender)."""
    out = []
    event: DomainEvent
    for number, pid in enumerate(pupils):
        for kind in (KINDS[number % 4], KINDS[(number + 2) % 4]):
            if kind == "grade":
                grade = 8 + number % 3
                event, effect = await c.corrected(pid, grade=grade), has_grade(grade)
            elif kind == "stage":
                attempt = ids.uid(f"attempt:{pid}")
                event = c.started(pid, attempt, Stage.INTERESTS)
                effect = lists("diagnostics", "attempt_id", attempt)
            elif kind == "booking":
                booking = ids.uid(f"booking:{pid}")
                event = c.booked(career_event, booking, pid)
                effect = lists("career_events", "booking_id", booking)
            else:
                set_id = ids.uid(f"recommendations:{pid}")
                event = c.recommendations(pid, set_id)
                effect = lists("recommendations", "recommendation_set_id", set_id)
            out.append(Command(pid, kind, event, effect))
    return out


async def test_every_read_with_a_token_reflects_its_command_under_load(
    database: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
) -> None:

    def settings(wait: float) -> PortfolioSettings:
        return PortfolioSettings(
            var_dir=tmp_path / "var",
            database_url=database,
            read_model="postgres",
            event_store="sqlite",  # the API's own audit trail, in var/
            key_store="sqlite",
            portfolio_wait_timeout=wait,
        )

    generous, short = settings(GENEROUS_WAIT), settings(SHORT_WAIT)
    keys = await open_key_store(generous)
    catalogue.cipher = FieldCipher(keys)  # the API opens names with the same key store
    c = catalogue
    suffix = uuid.uuid4().hex[:10]
    token = ensure_development_keys(generous.var_dir).mint(Role.NAVIGATOR, school=str(ids.school_3))
    headers = {"Authorization": f"Bearer {token}"}
    pupils = [ids.pupil(f"load:{n}") for n in range(PUPILS)]
    career_event = ids.uid("career-event:load")
    try:
        async with (
            api(generous) as patient,
            api(short) as hasty,
            sources(database, kafka_bootstrap, suffix) as stores,
            worker(generous, kafka_bootstrap, suffix),
        ):
            # The world and the pupils, each with a verified consent, through the same path.
            setup = [
                c.season_rules(),
                c.region(),
                c.window(),
                c.school(ids.school_3),
                c.career_event(career_event),
            ]
            for pid in pupils:
                consent_id = ids.uid(f"consent:{pid}")
                setup += [
                    await c.registered(pid),
                    await c.submitted(pid, consent_id),
                    c.verified(pid, consent_id),
                ]
            tokens = [await stores[event.service].command(event) for event in setup]
            world, own = tokens[:5], tokens[5:]
            for number, pid in enumerate(pupils):  # every pupil's portfolio open to begin with
                waits = own[3 * number : 3 * number + 3] + (world if number == 0 else [])
                settled = await patient.get(
                    f"/portfolio/v1/participants/{pid}",
                    headers={**headers, POSITION_HEADER: ", ".join(waits)},
                )
                assert settled.status_code == 200, settled.text
                assert settled.json()["open"] is True

            gate = asyncio.Semaphore(CONCURRENCY)
            answers: list[tuple[Command, httpx.Response, httpx.Response]] = []

            async def one(command: Command) -> None:
                async with gate:
                    written = await stores[command.event.service].command(command.event)
                    url = f"/portfolio/v1/participants/{command.pupil}"
                    sent = {**headers, POSITION_HEADER: written}
                    first = await hasty.get(url, headers=sent)
                    second = await patient.get(url, headers=sent)
                    answers.append((command, first, second))

            planned = await commands(c, ids, pupils, career_event)
            await asyncio.gather(*(one(command) for command in planned))
    finally:
        await keys.close()

    assert len(answers) == COMMANDS
    stale, wrong = [], []
    for command, first, second in answers:
        # The hasty API: the effect or the explicit 409, never a portfolio without the effect.
        if first.status_code == 409:
            problem = first.json()
            if problem["code"] != "not_yet_visible" or problem["token"] != written_of(first):
                wrong.append((command.kind, first.status_code, first.text))
        elif first.status_code != 200:
            wrong.append((command.kind, first.status_code, first.text))
        elif not command.effect(first.json()):
            stale.append((command.kind, "hasty", first.json()["version"]))
        # The patient API: the effect, every time.
        if second.status_code != 200:
            wrong.append((command.kind, second.status_code, second.text))
        elif not command.effect(second.json()):
            stale.append((command.kind, "patient", second.json()["version"]))
    assert stale == []
    assert wrong == []
    assert sum(1 for _, _, second in answers if second.status_code == 409) == 0
