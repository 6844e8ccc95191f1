"""The running identity service follows the consent service's store (embedded, as `make run`):
once consent has erased a pupil, the school can register the same child again."""

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from bilet.contracts import EventMetadata, encode
from bilet.contracts.catalogue.consent import ErasureReason, ParticipantErased
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_identity.domain import profile as profiles

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

WAIT = 10.0  # the most the feed may take before the test fails


async def test_a_child_erased_by_consent_can_be_registered_again(
    api: "Api", world: "World"
) -> None:
    first = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert first.status_code == 201, first.text
    erased = UUID(first.json()["participant_id"])
    refused = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"

    # The consent service's destruction job, as its store records it.
    consent = await SqliteEventStore.open(api.var_dir / "consent.sqlite3")
    try:
        event = ParticipantErased(
            participant_id=erased,
            reason=ErasureReason.CONSENT_WITHDRAWN,
            erased_at=datetime.now(UTC),
            destruction_record_id=uuid4(),
        )
        await consent.append(f"consent-{erased}", [encode(event, EventMetadata(actor="job"))])
    finally:
        await consent.close()

    store = api.service.store
    async with asyncio.timeout(WAIT):
        while await store.stream_version(profiles.stream_id(erased)) is not None:  # noqa: ASYNC110 - the service's feed
            await asyncio.sleep(0.05)

    again = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert again.status_code == 201, again.text
    assert again.json()["participant_id"] != str(erased)
    # The erased child's surname index went with their profile: a search finds the new one only.
    found = await api.client.get(
        f"/identity/v1/schools/{world.school_3}/pupils",
        headers=api.registrar(),
        params={"surname": "Сок"},
    )
    assert [p["participant_id"] for p in found.json()["pupils"]] == [again.json()["participant_id"]]
    ready = await api.client.get("/identity/readyz")
    assert ready.status_code == 200, ready.text
