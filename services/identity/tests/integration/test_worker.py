"""The worker's path on the real Kafka broker: `ParticipantErased` on the consent service's topic
releases the erased pupil's reservation in identity's store, and the child registers again."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bilet.audit import EventStoreAuditLog
from bilet.contracts import EventMetadata, encode
from bilet.contracts.catalogue.consent import ErasureReason, ParticipantErased
from bilet.eventstore import RecordedEvent
from bilet.projections import dlq_topic
from bilet.projections.testing import produce
from bilet_identity.adapters.stores import open_read_model
from bilet_identity.application.erasures import ReservationRelease
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


def _recorded(event: ParticipantErased, position: int) -> RecordedEvent:
    new = encode(event, EventMetadata(actor="consent-destruction-job"))
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
