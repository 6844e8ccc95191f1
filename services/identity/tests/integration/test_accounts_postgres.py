"""Against PostgreSQL (the production store), two replicas on one database: a pupil's binding code
that many accounts redeem at once binds exactly one of them (docs/adr/0053)."""

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx
import pytest

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_identity.access.bindings import AccountDirectory
from bilet_identity.app import create_app
from bilet_identity.application.service import IdentityService
from bilet_identity.domain.snils import generate
from bilet_identity.settings import IdentitySettings

if TYPE_CHECKING:
    from services.identity.tests.conftest import World

pytestmark = pytest.mark.integration
ACCOUNTS = 20


async def test_a_code_redeemed_by_many_accounts_at_once_on_two_replicas_binds_one(
    postgres_settings: IdentitySettings,
    world: "World",
    seed_world: Callable[[IdentityService], Awaitable[None]],
) -> None:
    async with AsyncExitStack() as stack:
        clients: list[httpx.AsyncClient] = []
        services: list[IdentityService] = []
        for _ in range(2):
            app = create_app(postgres_settings)
            manager = await stack.enter_async_context(app_lifespan(app))
            transport = httpx.ASGITransport(app=manager.app)
            client = httpx.AsyncClient(transport=transport, base_url="http://identity")
            clients.append(await stack.enter_async_context(client))
            services.append(app.state.identity)
        await seed_world(services[0])
        signer = ensure_development_keys(postgres_settings.var_dir)
        registrar = {
            "Authorization": f"Bearer {signer.mint(Role.REGISTRAR, school=str(world.school_3))}"
        }
        # The season named: which one runs today is read from the catalogue view, which, like
        # the roster below, stops at the server's transaction horizon (see test_postgres).
        snils = generate(random.Random(7)).formatted
        body = world.pupil(snils=snils, class_letter="В", season=2019)
        registered = await clients[0].post(
            "/identity/v1/participants", headers=registrar, json=body
        )
        assert registered.status_code == 201, registered.text
        pid = registered.json()["participant_id"]
        for _ in range(100):  # bounded wait: another database's open transaction may hold it
            await services[0].roster.refresh()
            if services[0].roster.pupils_of(world.school_3, grade=7):
                break
            await asyncio.sleep(0.1)
        listed = await clients[0].post(
            f"/identity/v1/schools/{world.school_3}/binding-codes",
            headers=registrar,
            json={"grade": 7, "class_letter": "В"},
        )
        assert listed.status_code == 201, listed.text
        [row] = listed.json()["codes"]

        def pupil(n: int) -> dict[str, str]:
            return {"Authorization": f"Bearer {signer.mint(Role.PUPIL, subject=f'sub-{n}')}"}

        responses = await asyncio.gather(
            *(
                clients[n % 2].post(
                    "/identity/v1/binding-codes/redemption",
                    headers=pupil(n),
                    json={"code": row["code"]},
                )
                for n in range(ACCOUNTS)
            )
        )

        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 409: ACCOUNTS - 1}, [r.text for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {
            "binding_code_used"
        }
        [winner] = [n for n, r in enumerate(responses) if r.status_code == 200]
        for service in services:
            bound = [
                await AccountDirectory(service).participant_of(f"sub-{n}") for n in range(ACCOUNTS)
            ]
            assert bound == [pid if n == winner else None for n in range(ACCOUNTS)]
