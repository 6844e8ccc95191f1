"""Distributed, the recommender's API holds no keys (docs/adr/0046): started as a cluster starts
it (production, embedded feed off, no `BVB_MASTER_KEY`, no key store) it serves — readiness, a
coordinator's opportunities, a pupil's recommendations — while the embedded process, which issues
and so opens accessibility needs, still refuses to start without the master key."""

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from bilet.crypto import KeysNotHeld, MasterKeyError
from bilet.http import Role
from bilet.http.testing import app_lifespan
from bilet.settings import Environment
from bilet_recommender.adapters.evidence_projection import issuing_projection
from bilet_recommender.adapters.insights_projection import INSIGHTS
from bilet_recommender.app import create_app
from bilet_recommender.runtime import Runtime
from bilet_recommender.settings import RecommenderSettings
from services.recommender.tests.api.conftest import NOW, REGION, opportunity_body

ISSUER = "https://idp.test"
KEY_ID = "idp-test-1"
OPPORTUNITIES = "/recommender/v1/opportunities"


class ProductionSigner:
    """An identity provider's signing key as production accepts it: not a development key id,
    not the development issuer."""

    def __init__(self, folder: Path) -> None:
        self.key = Ed25519PrivateKey.generate()
        public = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": KEY_ID, "use": "sig", "alg": "EdDSA"})
        folder.mkdir(parents=True, exist_ok=True)
        self.jwks_path = folder / "jwks.json"
        self.jwks_path.write_text(json.dumps({"keys": [public]}), encoding="utf-8")

    def headers(self, role: Role, **claims: Any) -> dict[str, str]:
        # Tokens are judged by the wall clock, not by the app's clock.
        now = int(time.time())
        token = jwt.encode(
            {
                "iss": ISSUER,
                "aud": "bilet",
                "sub": f"test-{role.value}",
                "iat": now,
                "exp": now + 600,
                "role": role.value,
                **claims,
            },
            self.key,
            algorithm="EdDSA",
            headers={"kid": KEY_ID},
        )
        return {"Authorization": f"Bearer {token}"}


def production(var_dir: Path, signer: ProductionSigner, *, embedded: bool) -> RecommenderSettings:
    return RecommenderSettings(
        environment=Environment.PRODUCTION,
        var_dir=var_dir,
        jwks_file=signer.jwks_path,
        jwt_issuer=ISSUER,
        recommender_embedded_feed=embedded,
    )


@pytest.fixture
def signer(tmp_path: Path) -> ProductionSigner:
    return ProductionSigner(tmp_path / "idp")


@pytest.fixture
async def client(tmp_path: Path, signer: ProductionSigner) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(production(tmp_path / "var", signer, embedded=False), clock=lambda: NOW)
    async with app_lifespan(app) as manager:
        runtime: Runtime = app.state.runtime
        # It runs without the keys: any use of a key would be refused.
        with pytest.raises(KeysNotHeld):
            await runtime.keystore.get("participant-1")
        # The read model's tables are the worker's, made when it starts: as it would have.
        await runtime.read_model.install(
            issuing_projection(runtime.store, runtime.keystore, lambda: NOW)
        )
        await runtime.read_model.install(INSIGHTS)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://recommender") as http:
            yield http


async def test_without_keys_it_is_ready(client: httpx.AsyncClient) -> None:
    ready = await client.get("/recommender/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"


async def test_without_keys_a_coordinator_registers_and_withdraws_an_opportunity(
    client: httpx.AsyncClient, signer: ProductionSigner
) -> None:
    coordinator = signer.headers(Role.COORDINATOR, region=str(REGION))
    registered = await client.post(OPPORTUNITIES, headers=coordinator, json=opportunity_body())
    assert registered.status_code == 201, registered.text
    opportunity = registered.json()["opportunity_id"]
    withdrawn = await client.post(f"{OPPORTUNITIES}/{opportunity}/withdrawal", headers=coordinator)
    assert withdrawn.status_code == 200, withdrawn.text


async def test_without_keys_a_pupil_reads_their_recommendations(
    client: httpx.AsyncClient, signer: ProductionSigner
) -> None:
    pupil = uuid4()
    answer = await client.get(
        f"/recommender/v1/participants/{pupil}/recommendations",
        headers=signer.headers(Role.PUPIL, participant=str(pupil)),
    )
    # Nothing was issued for them (the worker issues): an answer, not a failure for want of keys.
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "unknown_participant"


async def test_before_the_worker_made_its_tables_reads_answer_nothing_known(
    tmp_path: Path, signer: ProductionSigner
) -> None:
    app = create_app(production(tmp_path / "var", signer, embedded=False), clock=lambda: NOW)
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://recommender") as http:
            pupil = uuid4()
            answer = await http.get(
                f"/recommender/v1/participants/{pupil}/recommendations",
                headers=signer.headers(Role.PUPIL, participant=str(pupil)),
            )
            offers = await http.get(
                f"/recommender/v1/regions/{REGION}/opportunities",
                headers=signer.headers(Role.COORDINATOR, region=str(REGION)),
            )
    assert (answer.status_code, answer.json()["code"]) == (404, "unknown_participant")
    assert offers.status_code == 200, offers.text


async def test_embedded_it_issues_and_refuses_to_start_without_the_master_key(
    tmp_path: Path, signer: ProductionSigner
) -> None:
    app = create_app(production(tmp_path / "var", signer, embedded=True), clock=lambda: NOW)
    with pytest.raises(MasterKeyError, match="BVB_MASTER_KEY is not set"):
        async with app_lifespan(app):
            pass
