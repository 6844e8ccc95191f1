"""The worker's path on the real Kafka broker: `ParticipantErased` on the consent service's topic
releases the erased pupil's reservation in identity's store, and the child registers again; a
`ConsentVerified` covering `health_data` reaches the read model that identity's API (without an
embedded feed, as in the cluster) reads before it shows health data."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bilet.audit import EventStoreAuditLog
from bilet.contracts import EventMetadata, encode
from bilet.contracts.catalogue.consent import (
    ConsentVerified,
    ErasureReason,
    ParticipantErased,
    Purpose,
)
from bilet.eventstore import RecordedEvent
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.projections import dlq_topic
from bilet.projections.testing import produce
from bilet_identity.adapters.stores import open_read_model
from bilet_identity.app import create_app
from bilet_identity.application.erasures import ReservationRelease
from bilet_identity.application.service import IdentityService
from bilet_identity.domain import profile as profiles
from bilet_identity.settings import IdentitySettings
from bilet_identity.worker import build_feed

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

pytestmark = pytest.mark.integration

WAIT = 60.0


@pytest.fixture
async def topic(kafka_bootstrap: str) -> AsyncIterator[str]:
    name = f"bilet.t{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    yield name
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        await admin.delete_topics([t for t in (name, dlq_topic(name)) if t in existing])
    finally:
        await admin.close()


def _recorded(event: ParticipantErased | ConsentVerified, position: int) -> RecordedEvent:
    new = encode(event, EventMetadata(actor="consent"))
    return RecordedEvent(
        stream_id=f"consent-{event.participant_id}",
        version=0,
        position=position,
        event_id=uuid.uuid4(),
        type=new.type,
        data=new.data,
        metadata=new.metadata,
        recorded_at=datetime.now(UTC),
    )


async def test_the_worker_releases_an_erased_childs_reservation_from_kafka(
    api: "Api", world: "World", kafka_bootstrap: str, topic: str
) -> None:
    first = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert first.status_code == 201, first.text
    erased = uuid.UUID(first.json()["participant_id"])
    erasure = ParticipantErased(
        participant_id=erased,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime.now(UTC),
        destruction_record_id=uuid.uuid4(),
    )
    # Twice: a duplicate on the topic does nothing more.
    await produce(
        kafka_bootstrap, topic, [_recorded(erasure, 7), _recorded(erasure, 7)], service="consent"
    )

    store = api.service.store
    worker_settings = IdentitySettings(
        var_dir=api.var_dir, kafka_bootstrap=kafka_bootstrap, identity_embedded_feed=False
    )
    read_model = await open_read_model(worker_settings)
    try:
        release = ReservationRelease(store, EventStoreAuditLog(store))
        feed = build_feed(
            worker_settings, read_model, release, topics={topic: "consent"}, group_id=f"t-{topic}"
        )
        task = asyncio.create_task(feed.run())
        try:
            async with asyncio.timeout(WAIT):
                while await store.stream_version(profiles.stream_id(erased)) is not None:  # noqa: ASYNC110 - the worker's effect
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await read_model.close()

    again = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert again.status_code == 201, again.text
    assert again.json()["participant_id"] != str(erased)


async def test_the_worker_keeps_the_consents_that_identity_reads_before_showing_health_data(
    make_settings: Callable[..., IdentitySettings],
    seed_world: Callable[[IdentityService], Awaitable[None]],
    world: "World",
    kafka_bootstrap: str,
    topic: str,
) -> None:
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, identity_embedded_feed=False)
    app = create_app(settings)
    signer = ensure_development_keys(settings.var_dir)
    registrar = {
        "Authorization": f"Bearer {signer.mint(Role.REGISTRAR, school=str(world.school_3))}"
    }
    async with app_lifespan(app) as manager:
        await seed_world(app.state.identity)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            registered = await client.post(
                "/identity/v1/participants",
                headers=registrar,
                json=world.pupil(accessibility_needs=["step_free_access"]),
            )
            assert registered.status_code == 201, registered.text
            pid = registered.json()["participant_id"]
            url = f"/identity/v1/participants/{pid}"
            before = (await client.get(url, headers=registrar)).json()["personal"]
            assert before["health_withheld"] == "no_health_consent"

            verified = ConsentVerified(
                participant_id=uuid.UUID(pid),
                consent_id=uuid.uuid4(),
                purposes=tuple(Purpose),
                valid_until=date.today() + timedelta(days=365),
            )
            await produce(kafka_bootstrap, topic, [_recorded(verified, 11)], service="consent")
            read_model = await open_read_model(settings)
            store = app.state.identity.store
            feed = build_feed(
                settings,
                read_model,
                ReservationRelease(store, EventStoreAuditLog(store)),
                topics={topic: "consent"},
                group_id=f"t-{topic}",
            )
            task = asyncio.create_task(feed.run())
            try:
                # The API's read carries the consent command's token: it waits (bounded) for
                # the worker, in another read-model connection, to apply it.
                token = {"BVB-Position": f"consent:11:consent-{pid}"}
                async with asyncio.timeout(WAIT):
                    while True:
                        shown = await client.get(url, headers=registrar | token)
                        if shown.status_code != 409:  # not_yet_visible: ask again
                            break
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await read_model.close()
    assert shown.status_code == 200, shown.text
    personal = shown.json()["personal"]
    assert personal["health_withheld"] is None
    assert personal["accessibility_needs"] == ["step_free_access"]
