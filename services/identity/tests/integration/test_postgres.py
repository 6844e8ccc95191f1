"""Against PostgreSQL (the production store): one profile per child under 50 parallel
registrations, through the whole service as deployed (`BVB_EVENT_STORE=postgres`), two replicas
on one database."""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx
import pytest

from bilet.eventstore.postgres import PostgresEventStore
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_identity.app import create_app
from bilet_identity.application.service import IdentityService
from bilet_identity.settings import IdentitySettings

if TYPE_CHECKING:
    from services.identity.tests.conftest import World

pytestmark = pytest.mark.integration


# serial: fifty racing commands on two replicas must all end 201 or 409; under
# the load of other tests their pool and lock waits ran out (a known load flake).
@pytest.mark.serial
async def test_fifty_parallel_registrations_of_one_child_make_one_profile(
    postgres_settings: IdentitySettings,
    world: "World",
    seed_world: Callable[[IdentityService], Awaitable[None]],
) -> None:
    async with AsyncExitStack() as stack:
        clients: list[httpx.AsyncClient] = []
        services: list[IdentityService] = []
        for _ in range(2):  # two replicas of the service on one database
            app = create_app(postgres_settings)
            manager = await stack.enter_async_context(app_lifespan(app))
            transport = httpx.ASGITransport(app=manager.app)
            client = httpx.AsyncClient(transport=transport, base_url="http://identity")
            clients.append(await stack.enter_async_context(client))
            services.append(app.state.identity)
        assert isinstance(services[0].store, PostgresEventStore)
        assert services[0].store.schema == postgres_settings.identity_store_schema
        await seed_world(services[0])
        signer = ensure_development_keys(postgres_settings.var_dir)
        token = signer.mint(Role.REGISTRAR, school=str(world.school_3))
        headers = {"Authorization": f"Bearer {token}"}

        responses = await asyncio.gather(
            *(
                clients[n % 2].post(
                    "/identity/v1/participants", headers=headers, json=world.pupil()
                )
                for n in range(50)
            )
        )

        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: 1, 409: 49}, [r.text for r in responses if r.status_code >= 500]
        [created] = [r.json() for r in responses if r.status_code == 201]
        for refused in (r.json() for r in responses if r.status_code == 409):
            assert refused["code"] == "duplicate_participant"
            assert refused["existing_participant_id"] == created["participant_id"]
        store = services[1].store
        # Reads stop at the server's transaction horizon: another database's open transaction on
        # a shared test server may hold committed events back for a moment. Bounded wait.
        for _ in range(100):
            registrations = [
                e for e in await store.read_all(limit=10_000) if e.type == "ParticipantRegistered"
            ]
            if registrations:
                break
            await asyncio.sleep(0.1)
        assert [e.stream_id for e in registrations] == [f"participant-{created['participant_id']}"]
        reservations = await store.read_all(limit=10_000, categories=["reservation"])
        assert len(reservations) == 1
        shown = await clients[1].get(
            f"/identity/v1/participants/{created['participant_id']}", headers=headers
        )
        assert shown.json()["personal"]["snils"] == "112-233-445 95"


async def test_readiness_reports_the_postgres_store(postgres_settings: IdentitySettings) -> None:
    app = create_app(postgres_settings)
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            ready = await client.get("/identity/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == [
        {"name": "event_store", "ready": True, "detail": None},
        {"name": "feed", "ready": True, "detail": "embedded"},  # of consent's erasures
    ]
