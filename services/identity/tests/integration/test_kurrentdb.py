"""Identity on KurrentDB end to end (ADR 0058): the service as deployed with
`BVB_EVENT_STORE=kurrentdb` registers a participant (three streams in one multi-stream append,
KurrentDB >= 25.1), and the relay, tailing the service's namespace through its catch-up
subscription, publishes every stored event to real Kafka.

Runs only where `BVB_KURRENTDB_URL` names a KurrentDB server, as the event store's contract
suite does (`make test-kurrentdb BVB_KURRENTDB_URL=...`); skipped otherwise. Each run uses a
namespace of its own."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bilet.contracts.cloudevents import topic_of
from bilet.eventstore.kurrentdb import KurrentDbEventStore
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.relay.app import open_relay
from bilet.relay.audit import audit, read_store, read_topic
from bilet.relay.settings import RelaySettings
from bilet_identity.app import create_app
from bilet_identity.application.service import IdentityService
from bilet_identity.settings import IdentitySettings

if TYPE_CHECKING:
    from services.identity.tests.conftest import World

KURRENTDB_URL = os.environ.get("BVB_KURRENTDB_URL", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not KURRENTDB_URL, reason="BVB_KURRENTDB_URL names no KurrentDB server"),
]

# Bounds a wait that would otherwise hang.
WAIT_SECONDS = 60


@pytest.fixture
async def relay_service(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A relay name of its own (its topic is deleted after the test), so that this test's
    topic is not the suite's `bilet.identity`."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic_of(name)])
    finally:
        await admin.close()


async def test_a_registration_on_kurrentdb_reaches_kafka_through_the_relay(
    make_settings: Callable[..., IdentitySettings],
    world: "World",
    seed_world: Callable[[IdentityService], Awaitable[None]],
    kafka_bootstrap: str,
    relay_service: str,
    tmp_path: Path,
) -> None:
    namespace = f"t_identity_{uuid.uuid4().hex[:12]}"
    on_kurrentdb: dict[str, Any] = {
        "event_store": "kurrentdb",
        "kurrentdb_url": KURRENTDB_URL,
        "read_model": "sqlite",
        "key_store": "sqlite",
    }
    settings = make_settings(
        **on_kurrentdb, identity_store_schema=namespace, identity_embedded_feed=False
    )
    app = create_app(settings)
    async with app_lifespan(app) as manager:
        service: IdentityService = app.state.identity
        assert isinstance(service.store, KurrentDbEventStore)
        assert service.store.namespace == namespace
        await seed_world(service)
        token = ensure_development_keys(settings.var_dir).mint(
            Role.REGISTRAR, school=str(world.school_3)
        )
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            headers = {"Authorization": f"Bearer {token}"}
            created = await client.post(
                "/identity/v1/participants", headers=headers, json=world.pupil()
            )
            assert created.status_code == 201, created.text
            again = await client.post(
                "/identity/v1/participants", headers=headers, json=world.pupil()
            )
            assert again.json()["code"] == "duplicate_participant"  # the reservation held
        participant = f"participant-{created.json()['participant_id']}"
        stored = await read_store(service.store)
        head = stored[-1].position

        relay_settings = RelaySettings(
            **on_kurrentdb,
            kafka_bootstrap=kafka_bootstrap,
            relay_service=relay_service,
            relay_publish="all",
            relay_store=f"sqlite:{tmp_path / 'relay-positions.sqlite3'}",
            relay_schema=namespace,
        )
        async with open_relay(relay_settings) as relay:
            running = asyncio.create_task(relay.run())
            await asyncio.wait_for(relay.wait_until_published(head), WAIT_SECONDS)
            relay.stop()
            await asyncio.wait_for(running, WAIT_SECONDS)

    published = await read_topic(kafka_bootstrap, topic_of(relay_service))
    report = audit(stored, published)
    assert report.ok, report.summary()
    assert report.duplicates == 0
    registered = [p.event for p in published if p.event.type == "ParticipantRegistered"]
    assert [event.stream_id for event in registered] == [participant]
