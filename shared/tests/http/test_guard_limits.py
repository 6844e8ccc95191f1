"""Upload routes take larger bodies than the default; the routes beneath them do not."""

import json

import httpx
from fastapi import FastAPI, Request
from starlette.types import Message, Receive, Scope, Send

from bilet.http.guard import DEFAULT_MAX_BODY, RequestGuard
from bilet.http.problems import Problem

app = FastAPI()


@app.post("/consent/v1/consents")
@app.post("/consent/v1/consents/{consent_id}/verify")
async def accept(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


def client() -> httpx.AsyncClient:
    guarded = RequestGuard(app, body_limits={"/consent/v1/consents": 4 * DEFAULT_MAX_BODY})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://t")


async def test_the_upload_route_takes_its_own_limit_and_the_routes_beneath_it_the_default() -> None:
    body = b"x" * (2 * DEFAULT_MAX_BODY)
    async with client() as http:
        uploaded = await http.post("/consent/v1/consents", content=body)
        assert uploaded.json() == {"size": len(body)}
        verify = await http.post("/consent/v1/consents/c-1/verify", content=body)
        assert verify.status_code == 413
        assert verify.json()["code"] == "payload_too_large"
        too_large = await http.post("/consent/v1/consents", content=body * 3)
        assert too_large.status_code == 413


class CountingApp:
    """Counts how many request bodies reached the application."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await app(scope, receive, send)


async def test_an_upload_route_verifies_the_caller_before_it_reads_the_body() -> None:
    inner = CountingApp()

    async def authenticate(header: str | None) -> None:
        if header != "Bearer good":
            raise Problem(
                401,
                "unauthorized",
                "Unauthorized",
                "A bearer token is required.",
                headers={"WWW-Authenticate": "Bearer"},
            )

    guarded = RequestGuard(
        inner, body_limits={"/consent/v1/consents": 4 * DEFAULT_MAX_BODY}, authenticate=authenticate
    )
    for headers in ([], [(b"authorization", b"Bearer bad")]):
        received: list[Message] = []
        sent: list[Message] = []

        async def receive(received: list[Message] = received) -> Message:
            received.append({})
            return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

        async def send(message: Message, sent: list[Message] = sent) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/consent/v1/consents",
            "raw_path": b"/consent/v1/consents",
            "query_string": b"",
            "headers": headers,
        }
        await guarded(scope, receive, send)
        assert received == [], "the body was read before the caller was verified"
        assert sent[0]["status"] == 401
        assert (b"www-authenticate", b"Bearer") in sent[0]["headers"]
        assert json.loads(sent[1]["body"])["code"] == "unauthorized"
    assert inner.calls == 0

    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        # Small routes are left to the route's own token check.
        small = await http.post("/consent/v1/consents/c-1/verify", content=b"{}")
        assert small.status_code == 200
        body = b"x" * (2 * DEFAULT_MAX_BODY)
        accepted = await http.post(
            "/consent/v1/consents", content=body, headers={"Authorization": "Bearer good"}
        )
        assert accepted.json() == {"size": len(body)}
