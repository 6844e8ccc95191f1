"""The request context routes depend on: the principal, a safe correlation id, and (where a use
case waits for other services' writes) the position tokens of the request."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastapi import APIRouter

from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.context import Context, ContextWithPositions
from bilet.http.devkeys import DevelopmentSigner

# The `serve_router` fixture (conftest.py).
ServeRouter = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

router = APIRouter()


@router.get("/v1/plain")
async def plain(ctx: Context) -> dict[str, object]:
    return {"subject": ctx.principal.subject, "correlation": ctx.correlation_id, "tokens": []}


@router.get("/v1/waiting")
async def waiting(ctx: ContextWithPositions) -> dict[str, object]:
    tokens = [token.encode() for token in ctx.tokens]
    return {"subject": ctx.principal.subject, "correlation": ctx.correlation_id, "tokens": tokens}


@pytest.fixture
async def client(serve_router: ServeRouter) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_router(router, "ctx") as client:
        yield client


async def test_a_plain_correlation_id_is_kept_and_anything_else_replaced(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    auth = {"Authorization": "Bearer " + signer.mint(Role.NAVIGATOR, subject="navigator-1")}
    kept = await client.get("/ctx/v1/plain", headers={**auth, "X-Correlation-Id": "req-1:a.b_c"})
    assert kept.json() == {"subject": "navigator-1", "correlation": "req-1:a.b_c", "tokens": []}
    for given in ("with space", "x" * 101, "", "<script>"):
        answer = await client.get("/ctx/v1/plain", headers={**auth, "X-Correlation-Id": given})
        correlation = answer.json()["correlation"]
        assert correlation != given
        assert len(correlation) == 36  # a new UUID
    fresh = [(await client.get("/ctx/v1/plain", headers=auth)).json() for _ in range(2)]
    assert fresh[0]["correlation"] != fresh[1]["correlation"]


async def test_only_the_waiting_context_reads_position_tokens(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    auth = {"Authorization": "Bearer " + signer.mint(Role.REGISTRAR)}
    tokens = {POSITION_HEADER: "identity:12:participant-1, consent:3"}
    waiting = await client.get("/ctx/v1/waiting", headers={**auth, **tokens})
    assert waiting.json()["tokens"] == ["identity:12:participant-1", "consent:3"]
    malformed = {**auth, POSITION_HEADER: "identity:twelve"}
    refused = await client.get("/ctx/v1/waiting", headers=malformed)
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_position_token"
    # A route that does not wait ignores the header, well-formed or not.
    assert (await client.get("/ctx/v1/plain", headers=malformed)).status_code == 200


async def test_without_a_token_there_is_no_context(client: httpx.AsyncClient) -> None:
    answer = await client.get("/ctx/v1/waiting", headers={POSITION_HEADER: "identity:1"})
    assert answer.status_code == 401
