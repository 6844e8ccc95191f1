"""The verifier remembers the tokens it verified lately: never past their expiry, never once the
key that verified them left the key set, never for another token, and never more than its bound."""

import json
import os
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
from bilet.http.auth import TokenVerifier
from bilet.http.jwks import JwksFile, KeySource
from bilet.settings import PlatformSettings

ISSUER = "https://idp.test"
LEEWAY = 30


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def jwks_of(*keys: tuple[Ed25519PrivateKey, str]) -> str:
    return json.dumps(
        {
            "keys": [
                {**json.loads(OKPAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "EdDSA"}
                for key, kid in keys
            ]
        }
    )


def rewrite(path: Path, text: str) -> None:
    """Write `text` with a later modification time, whatever the clock's resolution."""
    stamp = path.stat().st_mtime_ns + 1_000_000
    path.write_text(text)
    os.utime(path, ns=(stamp, stamp))


def token(key: Ed25519PrivateKey, kid: str, subject: str, *, expires_in: int = 600) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "bilet",
        "sub": subject,
        "iat": now,
        "exp": now + expires_in,
        "role": "pupil",
    }
    return jwt.encode(claims, key, "EdDSA", {"kid": kid})


class CountingKeys(KeySource):
    """A JWKS file whose key lookups are counted."""

    def __init__(self, path: Path) -> None:
        self.file = JwksFile(path)
        self.lookups = 0

    async def load(self, kid: str) -> None:
        await self.file.load(kid)

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        self.lookups += 1
        return self.file.key_for(kid)

    def key_ids(self) -> list[str]:
        return self.file.key_ids()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def jwks(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(jwks_of((key, "k1")))
    return path


def verifier(jwks: Path, clock: Clock, **options: Any) -> TokenVerifier:
    return TokenVerifier(
        JwksFile(jwks),
        issuer=ISSUER,
        audience="bilet",
        leeway_seconds=LEEWAY,
        clock=clock,
        **options,
    )


def test_a_verified_token_is_remembered_until_it_expires(
    jwks: Path, key: Ed25519PrivateKey
) -> None:
    clock = Clock()
    tokens = verifier(jwks, clock, remember_seconds=3600)
    issued = token(key, "k1", "a", expires_in=120)
    exp = jwt.decode(issued, options={"verify_signature": False})["exp"]
    assert tokens.remembered(issued) is None
    assert tokens.verify(issued).subject == "a"
    clock.now = exp + LEEWAY - 0.5
    remembered = tokens.remembered(issued)
    assert remembered is not None
    assert remembered.subject == "a"
    clock.now = exp + LEEWAY  # PyJWT refuses from here on: so does the memory
    assert tokens.remembered(issued) is None
    clock.now = exp - 60
    assert tokens.remembered(issued) is None  # forgotten, not merely hidden


def test_a_token_is_remembered_for_a_short_while_only(jwks: Path, key: Ed25519PrivateKey) -> None:
    clock = Clock()
    tokens = verifier(jwks, clock, remember_seconds=5)
    issued = token(key, "k1", "a", expires_in=3600)
    tokens.verify(issued)
    clock.now += 4.9
    assert tokens.remembered(issued) is not None
    clock.now += 0.2
    assert tokens.remembered(issued) is None


def test_a_changed_key_set_drops_every_remembered_token(jwks: Path, key: Ed25519PrivateKey) -> None:
    clock = Clock()
    tokens = verifier(jwks, clock)
    first, second = token(key, "k1", "a"), token(key, "k1", "b")
    tokens.verify(first)
    tokens.verify(second)
    other = Ed25519PrivateKey.generate()
    rewrite(jwks, jwks_of((other, "k1")))  # the same key id, another key: k1 is revoked
    assert tokens.remembered(first) is None
    with pytest.raises(Problem) as refused:
        tokens.verify(first)
    assert refused.value.status == 401
    assert tokens.remembered(second) is None  # dropped with the rest, without being asked
    with pytest.raises(Problem):
        tokens.verify(second)


def test_a_withdrawn_key_ends_the_trust_in_its_tokens(jwks: Path, key: Ed25519PrivateKey) -> None:
    clock = Clock()
    tokens = verifier(jwks, clock)
    issued = token(key, "k1", "a")
    tokens.verify(issued)
    rewrite(jwks, jwks_of((Ed25519PrivateKey.generate(), "k2")))
    with pytest.raises(Problem) as refused:
        tokens.verify(issued)
    assert refused.value.detail == "The token's signing key is not known."


def test_a_different_token_never_finds_anothers_entry(jwks: Path, key: Ed25519PrivateKey) -> None:
    clock = Clock()
    tokens = verifier(jwks, clock)
    first, second = token(key, "k1", "a"), token(key, "k1", "b")
    assert tokens.verify(first).subject == "a"
    assert tokens.verify(second).subject == "b"
    assert tokens.verify(first).subject == "a"
    head, payload, signature = first.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    for forged in (tampered, first + "x", first[:-1], f"{head}.{second.split('.')[1]}.{signature}"):
        assert tokens.remembered(forged) is None
        with pytest.raises(Problem) as refused:
            tokens.verify(forged)
        assert refused.value.status == 401


def test_refused_tokens_are_never_remembered(jwks: Path, key: Ed25519PrivateKey) -> None:
    clock = Clock()
    tokens = verifier(jwks, clock)
    forged = token(Ed25519PrivateKey.generate(), "k1", "a")
    for _ in range(2):
        with pytest.raises(Problem):
            tokens.verify(forged)
    assert tokens.remembered(forged) is None


def test_the_memory_is_bounded_and_forgets_the_least_recently_used(
    jwks: Path, key: Ed25519PrivateKey
) -> None:
    clock = Clock()
    tokens = verifier(jwks, clock, remember=2)
    first, second, third = (token(key, "k1", subject) for subject in "abc")
    tokens.verify(first)
    tokens.verify(second)
    tokens.verify(first)  # used again: the second is now the least recently used
    tokens.verify(third)
    assert tokens.remembered(second) is None
    assert tokens.remembered(first) is not None
    assert tokens.remembered(third) is not None


def test_a_remembered_token_skips_the_signature_but_not_the_key_lookup(
    jwks: Path, key: Ed25519PrivateKey
) -> None:
    keys = CountingKeys(jwks)
    tokens = TokenVerifier(keys, issuer=ISSUER, audience="bilet")
    issued = token(key, "k1", "a")
    tokens.verify(issued)
    looked_up = keys.lookups
    tokens.verify(issued)
    assert keys.lookups == looked_up + 1  # the key set is asked whether the key still holds


# ------------------------------------------------------------------ through the service frame

router = APIRouter()


@router.get("/v1/me", name="me")
async def me(principal: CurrentPrincipal) -> dict[str, str]:
    return {"subject": principal.subject}


async def test_the_frame_answers_from_the_memory_and_refuses_after_rotation(
    tmp_path: Path, jwks: Path, key: Ed25519PrivateKey
) -> None:
    settings = PlatformSettings(var_dir=tmp_path, jwks_file=jwks, jwt_issuer=ISSUER)
    app = create_service_app(
        ServiceDescription("probe", "Probe", "For tests."), [router], settings=settings
    )
    keys = CountingKeys(jwks)
    app.state.token_verifier = TokenVerifier(keys, issuer=ISSUER, audience="bilet")
    first, second = token(key, "k1", "a"), token(key, "k1", "b")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for _ in range(2):
            for issued, subject in ((first, "a"), (second, "b")):
                answer = await client.get(
                    "/probe/v1/me", headers={"Authorization": f"Bearer {issued}"}
                )
                assert answer.json() == {"subject": subject}
        rewrite(jwks, jwks_of((Ed25519PrivateKey.generate(), "k1")))
        refused = await client.get("/probe/v1/me", headers={"Authorization": f"Bearer {first}"})
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
