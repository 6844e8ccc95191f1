"""Upload routes take larger bodies than the default; the routes beneath them do not."""

import httpx
from fastapi import FastAPI, Request

from bilet.http.guard import DEFAULT_MAX_BODY, RequestGuard

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
