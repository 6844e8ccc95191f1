"""Against the real PostgreSQL (production): the event store, the document table and the read
model of the consent service, each in a schema of its own for this test, through one whole
consent's life — submit, verify, withdraw, destruction."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
import pytest

from bilet.audit import EventStoreAuditLog
from bilet.contracts import EventMetadata, encode, sealed_fields
from bilet.contracts.catalogue.consent import Purpose, Relationship
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.examples import sealed
from bilet.contracts.sealed import SealedValue
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import ANY
from bilet.eventstore.postgres import PostgresEventStore
from bilet.http import Role
from bilet.http.auth import Principal
from bilet.pgschema import drop_schema
from bilet.projections import EmbeddedFeed
from bilet.projections.postgres import PostgresReadModel
from bilet.sandbox import Sandbox
from bilet_consent.adapters.disarm import SandboxedDisarmer
from bilet_consent.adapters.documents import PostgresDocumentStore
from bilet_consent.application.documents import Original
from bilet_consent.application.inputs import CommandContext, SubmissionInput
from bilet_consent.application.listing import queue_cursor
from bilet_consent.application.lists import ConsentListStatus, ParticipantState
from bilet_consent.application.participants import (
    ParticipantDirectory,
    ParticipantFactsProjection,
)
from bilet_consent.application.service import ConsentService
from bilet_consent.domain.guardian import Contact, Guardian, GuardianName, Passport
from bilet_consent.testing import PDF, REGION, SCHOOL_3, Clock

pytestmark = pytest.mark.integration


@dataclass
class World:
    service: ConsentService
    feed: EmbeddedFeed
    identity: PostgresEventStore
    documents: PostgresDocumentStore
    clock: Clock
    database_url: str
    schema: str


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    tag = uuid.uuid4().hex[:10]
    schemas = (f"t_consent_{tag}", f"t_consent_rm_{tag}", f"t_consent_id_{tag}")
    async with contextlib.AsyncExitStack() as stack:
        for schema in schemas:
            stack.push_async_callback(drop_schema, database_url, schema)
        store = await PostgresEventStore.open(database_url, schema=schemas[0])
        stack.push_async_callback(store.close)
        identity = await PostgresEventStore.open(database_url, schema=schemas[2])
        stack.push_async_callback(identity.close)
        read_model = await PostgresReadModel.open(database_url, schema=schemas[1])
        stack.push_async_callback(read_model.close)
        documents = await PostgresDocumentStore.open(database_url, schemas[0])
        stack.push_async_callback(documents.close)
        clock = Clock(datetime(2019, 9, 20, 10, tzinfo=UTC))
        service = ConsentService(
            store,
            InMemoryKeyStore(),
            documents,
            ParticipantDirectory(read_model),
            EventStoreAuditLog(store),
            disarmer=SandboxedDisarmer(Sandbox()),
            clock=clock,
        )
        feed = EmbeddedFeed(
            read_model, ParticipantFactsProjection(), {"identity": identity, "consent": store}
        )
        yield World(service, feed, identity, documents, clock, database_url, schemas[0])


def _ctx(role: Role, school_id: str | None = None) -> CommandContext:
    return CommandContext(Principal(subject=f"test-{role.value}", role=role, school_id=school_id))


async def test_a_consent_lives_and_is_destroyed_on_postgresql(world: World) -> None:
    pupil = uuid.uuid4()
    registered = ParticipantRegistered(
        participant_id=pupil,
        school_id=SCHOOL_3,
        region_id=REGION,
        season=2019,
        grade=7,
        **{
            name: SealedValue.model_validate(sealed(name))
            for name in sealed_fields(ParticipantRegistered)
        },
    )
    await world.identity.append(registered.stream_id, [encode(registered, EventMetadata())], ANY)
    await world.feed.catch_up({})
    facts = await world.service.directory.find(pupil)
    assert facts is not None
    assert facts.school_id == SCHOOL_3

    form = SubmissionInput(
        participant_id=pupil,
        form_version="2019-1",
        purposes=(Purpose.PROGRAMME_PARTICIPATION, Purpose.HEALTH_DATA),
        signed_on=date(2019, 9, 17),
        valid_until=date(2020, 8, 31),
        relationship=Relationship.PARENT,
        guardian=Guardian(
            GuardianName("Соколова", "Ирина", None),
            Passport("4105", "731592", "ТП № 1", date(2010, 3, 15)),
            None,
            Contact(None, None),
        ),
    )
    service = world.service
    registrar = _ctx(Role.REGISTRAR, school_id=str(SCHOOL_3))
    operator = _ctx(Role.OPERATOR)
    submitted = await service.submit(registrar, form, PDF)
    assert await world.documents.count(pupil) == 1
    media_type, served = await service.document(operator, submitted.consent_id)
    assert (media_type, served[:5]) == ("application/pdf", b"%PDF-")
    assert served != PDF  # the copy rebuilt from the pixels (ADR 0015), never the upload
    assert submitted.document_id is not None
    kept = await world.documents.get(pupil, submitted.document_id)
    assert kept is not None
    assert kept.original == Original.of(PDF)  # the upload's evidence, beside the copy
    async with _connect(world.database_url) as connection:
        stored = await connection.fetchval(
            f"SELECT ciphertext FROM {world.schema}.documents WHERE participant_id = $1",  # noqa: S608
            pupil,
        )
    assert PDF not in bytes(stored)
    assert served not in bytes(stored)

    # The lists run their SQL on PostgreSQL too: the queue, then the states, filtered and paged.
    await world.feed.catch_up({})
    queue = await service.queue(operator, ConsentListStatus.PENDING, SCHOOL_3, REGION, None, 1)
    assert [(c.consent_id, c.submitted_by) for c in queue.items] == [
        (submitted.consent_id, SCHOOL_3)
    ]
    assert queue.next_cursor is None
    after = await service.queue(
        operator, ConsentListStatus.PENDING, None, None, queue_cursor(queue.items[0]), 10
    )
    assert after.items == []

    await service.verify(operator, submitted.consent_id)
    assert (await service.status(operator, pupil)).state == "verified"
    await world.feed.catch_up({})
    chosen = frozenset({ParticipantState.VERIFIED})
    states = await service.participant_states(registrar, None, None, chosen, None, 10)
    assert [(row.participant_id, row.state) for row in states.items] == [
        (pupil, ParticipantState.VERIFIED)
    ]
    assert states.items[0].purposes == (Purpose.PROGRAMME_PARTICIPATION, Purpose.HEALTH_DATA)
    none = frozenset({ParticipantState.NONE})
    assert (await service.participant_states(registrar, None, None, none, None, 10)).items == []
    guardian = CommandContext(
        Principal(subject="g", role=Role.GUARDIAN, children=frozenset({str(pupil)}))
    )
    await service.withdraw(guardian, submitted.consent_id, None, None)

    world.clock.advance(30)
    await world.feed.catch_up({})
    report = await service.erase_due("test")
    assert [o.participant_id for o in report.erased] == [pupil]
    assert await world.documents.count(pupil) == 0
    assert (await service.status(operator, pupil)).state == "erased"
    await world.feed.catch_up({})
    facts = await service.directory.find(pupil)
    assert facts is not None
    assert facts.erased
    assert await service.directory.due_for_erasure(date(2030, 1, 1), 30) == []


@contextlib.asynccontextmanager
async def _connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(url)
    try:
        yield connection
    finally:
        await connection.close()
