"""A token's times are JSON numbers and its lifetime is bounded: a string `exp` would let a
server-sent event stream outlive the token, and a token valid for decades is a stolen key."""

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter
from jwt.algorithms import OKPAlgorithm

from bilet.http import CurrentPrincipal, Problem, ServiceDescription, create_service_app
from bilet.http.auth import DEFAULT_MAX_TOKEN_LIFETIME, TokenVerifier
from bilet.http.jwks import JwksFile
from bilet.settings import PlatformSettings

ISSUER = "https://idp.test"
HOUR = 3600


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def jwks(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    public = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**public, "kid": "k1", "alg": "EdDSA"}]}))
    return path


def signed(key: Ed25519PrivateKey, **times: Any) -> str:
    claims = {"iss": ISSUER, "aud": "bilet", "sub": "acc-1", "role": "pupil", **times}
    return jwt.encode(claims, key, "EdDSA", {"kid": "k1"})


def verifier(jwks: Path, **options: Any) -> TokenVerifier:
    return TokenVerifier(JwksFile(jwks), issuer=ISSUER, audience="bilet", **options)


def refusal(tokens: TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as refused:
        tokens.verify(token)
    assert refused.value.status == 401
    assert refused.value.code == "unauthorized"
    return refused.value


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_a_time_given_as_a_string_is_refused(
    jwks: Path, key: Ed25519PrivateKey, claim: str
) -> None:
    now = int(time.time())
    times: dict[str, Any] = {"iat": now, "exp": now + HOUR, "nbf": now - 1}
    times[claim] = str(times[claim])
    problem = refusal(verifier(jwks), signed(key, **times))
    assert f"'{claim}'" in (problem.detail or "")


@pytest.mark.parametrize("value", [True, 1e400, 10**400, [1]])
def test_an_expiry_that_is_no_finite_number_is_refused(
    jwks: Path, key: Ed25519PrivateKey, value: object
) -> None:
    now = int(time.time())
    refusal(verifier(jwks), signed(key, iat=now, exp=value))


def test_a_token_living_longer_than_the_maximum_is_refused(
    jwks: Path, key: Ed25519PrivateKey
) -> None:
    now = int(time.time())
    problem = refusal(verifier(jwks), signed(key, iat=now, exp=10**12))
    assert "lifetime" in (problem.detail or "")
    # Issued long ago and expiring soon: its lifetime, not what is left of it, counts.
    refusal(verifier(jwks), signed(key, iat=now - 30 * 24 * HOUR, exp=now + 60))


def test_a_token_within_the_maximum_is_accepted_and_the_maximum_is_configurable(
    jwks: Path, key: Ed25519PrivateKey
) -> None:
    now = int(time.time())
    twelve_hours = signed(key, iat=now, exp=now + DEFAULT_MAX_TOKEN_LIFETIME)
    assert verifier(jwks).verify(twelve_hours).subject == "acc-1"
    refusal(verifier(jwks, max_lifetime_seconds=HOUR), twelve_hours)
    fractional = signed(key, iat=now + 0.5, exp=now + HOUR + 0.25)
    assert verifier(jwks).verify(fractional).expires_at == now + HOUR + 0.25


router = APIRouter()


@router.get("/v1/me", name="me")
async def me(principal: CurrentPrincipal) -> dict[str, str]:
    return {"subject": principal.subject}


async def test_the_frame_takes_the_maximum_from_the_settings(
    tmp_path: Path, jwks: Path, key: Ed25519PrivateKey
) -> None:
    settings = PlatformSettings(
        var_dir=tmp_path, jwks_file=jwks, jwt_issuer=ISSUER, jwt_max_lifetime_seconds=HOUR
    )
    app = create_service_app(
        ServiceDescription("probe", "Probe", "For tests."), [router], settings=settings
    )
    now = int(time.time())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for exp, status in ((now + HOUR, 200), (now + 2 * HOUR, 401), (str(now + 60), 401)):
            answer = await client.get(
                "/probe/v1/me", headers={"Authorization": f"Bearer {signed(key, iat=now, exp=exp)}"}
            )
            assert answer.status_code == status, answer.text
            if status == 401:
                assert answer.json()["code"] == "unauthorized"
