"""The worker's path on the real Kafka broker: identity's published events on a topic reach the
consent service's read model, and a read-your-writes wait on identity's position returns."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from bilet.contracts import EventMetadata, encode, sealed_fields
from bilet.contracts.catalogue.identity import ParticipantMovedToSchool, ParticipantRegistered
from bilet.contracts.examples import sealed
from bilet.contracts.sealed import SealedValue
from bilet.eventstore import RecordedEvent
from bilet.facts.testing import fresh_topics
from bilet.projections.testing import produce
from bilet_consent.adapters.stores import open_read_model
from bilet_consent.application.participants import PROJECTION, ParticipantDirectory
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import OTHER_REGION, REGION, SCHOOL_3, SPB_SCHOOL
from bilet_consent.worker import build_feed

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A fresh topic of identity's events."""
    async with fresh_topics(kafka_bootstrap, ("identity",)) as names:
        (name,) = names
        yield name


def _recorded(
    event: ParticipantRegistered | ParticipantMovedToSchool, version: int, position: int
) -> RecordedEvent:
    new = encode(event, EventMetadata(actor="test"))
    return RecordedEvent(
        stream_id=event.stream_id,
        version=version,
        position=position,
        event_id=uuid.uuid4(),
        type=new.type,
        data=new.data,
        metadata=new.metadata,
        recorded_at=datetime.now(UTC),
    )


async def test_the_worker_feeds_the_read_model_from_kafka(
    kafka_bootstrap: str, topic: str, make_settings: Callable[..., ConsentSettings]
) -> None:
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, consent_embedded_feed=False)
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
    moved = ParticipantMovedToSchool(
        participant_id=pupil,
        from_school_id=SCHOOL_3,
        to_school_id=SPB_SCHOOL,
        to_region_id=OTHER_REGION,
        grade=8,
    )
    await produce(
        kafka_bootstrap,
        topic,
        [_recorded(registered, 0, 11), _recorded(moved, 1, 12)],
        service="identity",
    )
    read_model = await open_read_model(settings)
    try:
        feed = build_feed(
            settings, read_model, topics={topic: "identity"}, group_id=f"test-{topic}"
        )
        task = asyncio.create_task(feed.run())
        try:
            await read_model.wait_until(
                PROJECTION, "identity", 12, 60, stream_id=f"participant-{pupil}"
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        facts = await ParticipantDirectory(read_model).find(pupil)
    finally:
        await read_model.close()
    assert facts is not None
    assert (facts.school_id, facts.region_id, facts.grade) == (SPB_SCHOOL, OTHER_REGION, 8)
