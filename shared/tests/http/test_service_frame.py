"""The HTTP frame as a client sees it: tokens, problems, the guard, readiness and metrics."""

import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter
from jwt.algorithms import OKPAlgorithm
from pydantic import BaseModel

from bilet.http import (
    CurrentPrincipal,
    Problem,
    ReadinessCheck,
    Role,
    ServiceDescription,
    create_service_app,
    forbidden,
)
from bilet.http.auth import DEVELOPMENT_ISSUER
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.settings import Environment, PlatformSettings

router = APIRouter()


class Greeting(BaseModel):
    name: str
    grade: int


@router.get("/v1/me", name="whoami")
async def whoami(principal: CurrentPrincipal) -> dict[str, str | None]:
    return {"subject": principal.subject, "role": principal.role.value}


@router.get("/v1/schools/{school_id}", name="school_detail")
async def school_detail(school_id: str, principal: CurrentPrincipal) -> dict[str, str]:
    principal.require(Role.REGISTRAR, Role.NAVIGATOR)
    if principal.school_id != school_id:
        raise forbidden("Only your own school.")
    return {"school": school_id}


@router.post("/v1/greetings", name="greet")
async def greet(greeting: Greeting, principal: CurrentPrincipal) -> Greeting:
    return greeting


@router.get("/v1/conflict", name="conflict")
async def conflict(principal: CurrentPrincipal) -> None:
    raise Problem(409, "version_conflict", "Version conflict", "Someone was faster.", actual=4)


@router.get("/v1/boom", name="boom")
async def boom(principal: CurrentPrincipal) -> None:
    raise RuntimeError("secret internals: Иванова")


SERVICE = ServiceDescription(name="probe", title="Probe", summary="A service for tests.")
ready = {"store": True}


async def store_probe() -> ReadinessCheck:
    return ReadinessCheck(name="store", ready=ready["store"], detail=None)


@pytest.fixture
def settings(tmp_path: Path) -> PlatformSettings:
    return PlatformSettings(var_dir=tmp_path, max_request_bytes=4096)


@pytest.fixture
def signer(settings: PlatformSettings) -> DevelopmentSigner:
    return ensure_development_keys(settings.var_dir)


@pytest.fixture
async def client(settings: PlatformSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        SERVICE,
        [router],
        settings=settings,
        readiness=[store_probe],
        body_limits={"/v1/uploads": 1 << 20},
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


# ------------------------------------------------------------------ tokens


async def test_without_a_token_the_answer_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/probe/v1/me")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_development_token_names_the_principal(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    token = signer.mint(Role.NAVIGATOR, subject="account-7", school="school-3")
    response = await client.get("/probe/v1/me", headers=bearer(token))
    assert response.json() == {"subject": "account-7", "role": "navigator"}


async def test_expired_wrong_audience_wrong_issuer_and_forged_tokens_are_refused(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    expired = signer.mint(Role.PUPIL, ttl_seconds=-120)  # beyond the 30 s leeway
    body = assert_problem(
        await client.get("/probe/v1/me", headers=bearer(expired)), 401, "unauthorized"
    )
    assert "expired" in str(body["detail"])
    claims = jwt.decode(signer.mint(Role.PUPIL), options={"verify_signature": False})
    for changed in ({"aud": "elsewhere"}, {"iss": "someone-else"}, {"role": "emperor"}):
        token = jwt.encode({**claims, **changed}, signer.key, "EdDSA", {"kid": signer.key_id})
        assert_problem(await client.get("/probe/v1/me", headers=bearer(token)), 401, "unauthorized")
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), "EdDSA", {"kid": signer.key_id})
    assert_problem(await client.get("/probe/v1/me", headers=bearer(forged)), 401, "unauthorized")
    assert_problem(
        await client.get("/probe/v1/me", headers=bearer("not.a.jwt")), 401, "unauthorized"
    )


async def test_a_rotated_jwks_file_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    def jwks_of(key: Ed25519PrivateKey, kid: str) -> str:
        jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
        return json.dumps({"keys": [{**jwk, "kid": kid, "alg": "EdDSA"}]})

    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(jwks_of(old_key, "k1"))
    settings = PlatformSettings(var_dir=tmp_path, jwks_file=jwks, jwt_issuer="https://idp.test")
    app = create_service_app(SERVICE, [router], settings=settings)
    now = int(time.time())
    claims = {"iss": "https://idp.test", "aud": "bilet", "sub": "a", "iat": now, "exp": now + 60}
    old_token = jwt.encode({**claims, "role": "pupil"}, old_key, "EdDSA", {"kid": "k1"})
    new_token = jwt.encode({**claims, "role": "pupil"}, new_key, "EdDSA", {"kid": "k2"})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/probe/v1/me", headers=bearer(old_token))).status_code == 200
        assert (await client.get("/probe/v1/me", headers=bearer(new_token))).status_code == 401
        jwks.write_text(jwks_of(new_key, "k2"))
        stamp = jwks.stat().st_mtime_ns + 1_000_000  # a later modification time, whatever the clock
        os.utime(jwks, ns=(stamp, stamp))
        assert (await client.get("/probe/v1/me", headers=bearer(new_token))).status_code == 200
        assert (await client.get("/probe/v1/me", headers=bearer(old_token))).status_code == 401


def test_production_refuses_the_development_issuer_and_keys(tmp_path: Path) -> None:
    signer = ensure_development_keys(tmp_path)
    production = PlatformSettings(var_dir=tmp_path, environment=Environment.PRODUCTION)
    with pytest.raises(ValueError, match="JWKS"):
        create_service_app(SERVICE, [router], settings=production)
    with pytest.raises(ValueError, match="development issuer"):
        create_service_app(
            SERVICE,
            [router],
            settings=PlatformSettings(
                var_dir=tmp_path,
                environment=Environment.PRODUCTION,
                jwks_file=signer.jwks_path,
                jwt_issuer=DEVELOPMENT_ISSUER,
            ),
        )


async def test_production_refuses_a_development_key_even_from_its_jwks(tmp_path: Path) -> None:
    signer = ensure_development_keys(tmp_path)
    settings = PlatformSettings(
        var_dir=tmp_path,
        environment=Environment.PRODUCTION,
        jwks_file=signer.jwks_path,
        jwt_issuer="https://idp.test",
    )
    app = create_service_app(SERVICE, [router], settings=settings)
    claims = jwt.decode(signer.mint(Role.OPERATOR), options={"verify_signature": False})
    token = jwt.encode(
        {**claims, "iss": "https://idp.test"}, signer.key, "EdDSA", {"kid": signer.key_id}
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = assert_problem(
            await client.get("/probe/v1/me", headers=bearer(token)), 401, "unauthorized"
        )
    assert "Development keys" in str(body["detail"])


# ------------------------------------------------------------------ object-level checks


async def test_object_level_checks_answer_403_forbidden(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    own = signer.mint(Role.REGISTRAR, school="school-1")
    pupil = signer.mint(Role.PUPIL, participant="p-1")
    assert (await client.get("/probe/v1/schools/school-1", headers=bearer(own))).status_code == 200
    assert_problem(
        await client.get("/probe/v1/schools/school-2", headers=bearer(own)), 403, "forbidden"
    )
    assert_problem(
        await client.get("/probe/v1/schools/school-1", headers=bearer(pupil)), 403, "forbidden"
    )


# ------------------------------------------------------------------ problems


async def test_invalid_bodies_are_422_and_never_echo_what_was_sent(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    response = await client.post(
        "/probe/v1/greetings",
        headers=bearer(signer.mint(Role.REGISTRAR)),
        json={"name": "Иванова Мария", "grade": "седьмой"},
    )
    body = assert_problem(response, 422, "invalid_request")
    assert body["errors"] == [
        {"loc": ["body", "grade"], "type": "int_parsing", "msg": body["errors"][0]["msg"]}  # type: ignore[index]
    ]
    assert "седьмой" not in response.text
    assert "Иванова" not in response.text
    broken = await client.post(
        "/probe/v1/greetings",
        headers={**bearer(signer.mint(Role.REGISTRAR)), "content-type": "application/json"},
        content=b'{"name": "x", "grade": ',
    )
    assert_problem(broken, 422, "invalid_request")


async def test_problems_raised_by_handlers_keep_their_code_and_extensions(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    body = assert_problem(
        await client.get("/probe/v1/conflict", headers=bearer(signer.mint(Role.OPERATOR))),
        409,
        "version_conflict",
    )
    assert body["actual"] == 4


async def test_unknown_routes_methods_and_crashes_are_problems_without_internals(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    assert_problem(await client.get("/probe/v1/nowhere"), 404, "not_found")
    assert_problem(await client.delete("/probe/v1/me"), 405, "method_not_allowed")
    crash = await client.get("/probe/v1/boom", headers=bearer(signer.mint(Role.SUPPORT)))
    assert_problem(crash, 500, "internal_error")
    assert "secret" not in crash.text
    assert "Иванова" not in crash.text


# ------------------------------------------------------------------ the request guard


@pytest.mark.parametrize(
    "payload",
    [
        b'{"name": "a\\u0000b", "grade": 7}',
        b'{"name": "\\ud800", "grade": 7}',
        b'{"name": "bell\\u0007", "grade": 7}',
        b'{"name\\u0000": "x", "grade": 7}',
    ],
)
async def test_hostile_text_in_a_json_body_is_400_invalid_text(
    client: httpx.AsyncClient, signer: DevelopmentSigner, payload: bytes
) -> None:
    response = await client.post(
        "/probe/v1/greetings",
        headers={**bearer(signer.mint(Role.REGISTRAR)), "content-type": "application/json"},
        content=payload,
    )
    assert_problem(response, 400, "invalid_text")


async def test_hostile_text_in_the_url_is_400_invalid_text(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/probe/v1/schools/a%00b"), 400, "invalid_text")
    assert_problem(await client.get("/probe/v1/me?x=%01"), 400, "invalid_text")
    assert_problem(await client.get("/probe/v1/me?x=%ff"), 400, "invalid_text")


async def test_ordinary_russian_text_tabs_and_newlines_pass(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    response = await client.post(
        "/probe/v1/greetings",
        headers=bearer(signer.mint(Role.REGISTRAR)),
        json={"name": "Пётр\tЁлкин\n«Лицей № 1»", "grade": 7},
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Пётр\tЁлкин\n«Лицей № 1»"


async def test_bodies_over_the_limit_are_413_whether_declared_or_streamed(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    big = json.dumps({"name": "я" * 5000, "grade": 7}).encode()
    headers = {**bearer(signer.mint(Role.REGISTRAR)), "content-type": "application/json"}
    assert_problem(
        await client.post("/probe/v1/greetings", headers=headers, content=big),
        413,
        "payload_too_large",
    )

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    assert_problem(
        await client.post("/probe/v1/greetings", headers=headers, content=chunks()),
        413,
        "payload_too_large",
    )


# ------------------------------------------------------------------ operations


async def test_health_readiness_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/probe/healthz")).status_code == 200
    ready["store"] = True
    assert (await client.get("/probe/readyz")).json()["status"] == "ready"
    ready["store"] = False
    try:
        not_ready = await client.get("/probe/readyz")
    finally:
        ready["store"] = True
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"] == [{"name": "store", "ready": False, "detail": None}]
    await client.get("/probe/v1/schools/school-42")
    metrics = (await client.get("/probe/metrics")).text
    assert 'route="/probe/v1/schools/{school_id}"' in metrics
    assert "school-42" not in metrics


async def test_every_route_has_a_stable_operation_id(client: httpx.AsyncClient) -> None:
    document = (await client.get("/probe/openapi.json")).json()
    operation_ids = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
    }
    assert {"whoami", "school_detail", "greet", "probe_healthz", "probe_readyz"} <= operation_ids


async def test_a_body_sent_with_a_get_is_still_checked(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    headers = {**bearer(signer.mint(Role.REGISTRAR)), "content-type": "application/json"}
    hostile = await client.request(
        "GET", "/probe/v1/me", headers=headers, content=b'{"name": "a\\u0000b"}'
    )
    assert_problem(hostile, 400, "invalid_text")
    big = await client.request("GET", "/probe/v1/me", headers=headers, content=b"x" * 5000)
    assert_problem(big, 413, "payload_too_large")


async def test_metrics_count_crashes_and_never_take_a_clients_method_as_a_label(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    await client.get("/probe/v1/boom", headers=bearer(signer.mint(Role.SUPPORT)))
    await client.request("BREW-COFFEE", "/probe/v1/me")
    await client.get("/probe/v1/me", headers=bearer(signer.mint(Role.SUPPORT)))
    metrics = (await client.get("/probe/metrics")).text
    assert (
        'bvb_http_requests_total{method="GET",route="/probe/v1/boom",service="probe",status="500"}'
        " 1.0" in metrics
    )
    assert (
        'bvb_http_requests_total{method="GET",route="/probe/v1/me",service="probe",status="200"}'
        " 1.0" in metrics
    )
    assert 'method="OTHER"' in metrics
    assert "BREW-COFFEE" not in metrics
