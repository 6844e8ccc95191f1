"""A request's log lines, through the service frame: every line JSON, every line logged while the
request runs carrying its correlation id and W3C trace id, and one access line naming the route
template, never the path's ids, the query string or anything else personal.
"""

import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from bilet.http import Role
from bilet.http.context import Context
from bilet.http.devkeys import DevelopmentSigner
from bilet.http.telemetry import trace_id_of
from bilet.logs import JsonFormatter, bind_log_context

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARTICIPANT = "7d1f3c1e-9f55-4c4e-8a53-3f1f3e1e2b77"
PERSONAL = "Иванова"  # a surname a client might put in a query or a mistyped path

Logged = Callable[[], list[dict[str, Any]]]

# The `serve_router` fixture (conftest.py).
ServeRouter = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

router = APIRouter()
route_log = logging.getLogger("probe.routes")


@router.get("/v1/participants/{participant_id}")
async def participant(participant_id: str, ctx: Context, q: str | None = None) -> dict[str, str]:
    route_log.info("participant read", extra={"position": 12})
    return {"correlation": str(ctx.correlation_id)}


@router.get("/v1/broken")
async def broken() -> None:
    raise RuntimeError("the handler failed")


@pytest.fixture
def logged() -> Iterator[Logged]:
    """The lines logged so far in the test, parsed: a line that is not JSON fails the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        # The test's client logs its own requests (logger httpx): the service's lines are asked.
        yield lambda: [
            line
            for line in map(json.loads, stream.getvalue().splitlines())
            if line["logger"] != "httpx"
        ]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        bind_log_context()  # the test's task served the requests: leave no ids behind


@pytest.fixture
async def client(serve_router: ServeRouter) -> AsyncIterator[httpx.AsyncClient]:
    # The application's own failure is the test's subject, not a reason to stop the client.
    async with serve_router(router, "probe", raise_app_exceptions=False) as client:
        yield client


def _access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "bilet.http.access"]


async def test_every_line_of_a_request_carries_its_correlation_and_trace_ids(
    client: httpx.AsyncClient, signer: DevelopmentSigner, logged: Logged
) -> None:
    headers = {
        "Authorization": "Bearer " + signer.mint(Role.NAVIGATOR),
        "X-Correlation-Id": "req-42",
        "traceparent": TRACEPARENT,
    }
    answer = await client.get(f"/probe/v1/participants/{PARTICIPANT}?q={PERSONAL}", headers=headers)
    assert answer.json() == {"correlation": "req-42"}
    lines = logged()
    assert [line["message"] for line in lines] == [
        "participant read",
        "GET /probe/v1/participants/{participant_id} 200",
    ]
    for line in lines:
        assert (line["correlation_id"], line["trace_id"]) == ("req-42", TRACE_ID)
        assert line["level"] == "info"
        assert line["time"].endswith("Z")
    assert lines[0]["position"] == 12
    (access,) = _access_lines(lines)
    assert access["method"] == "GET"
    assert access["route"] == "/probe/v1/participants/{participant_id}"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    text = json.dumps(lines, ensure_ascii=False)
    for kept_out in (PERSONAL, PARTICIPANT, "?q=", "Bearer", "127.0.0.1", "testclient"):
        assert kept_out not in text


async def test_the_correlation_id_a_route_gets_is_the_one_its_lines_carry(
    client: httpx.AsyncClient, signer: DevelopmentSigner, logged: Logged
) -> None:
    auth = {"Authorization": "Bearer " + signer.mint(Role.NAVIGATOR)}
    for given in ({}, {"X-Correlation-Id": "not a token <script>"}):
        answer = await client.get(f"/probe/v1/participants/{PARTICIPANT}", headers=auth | given)
        chosen = answer.json()["correlation"]
        assert len(chosen) == 36  # a new UUID, never the caller's malformed text
        assert {line["correlation_id"] for line in logged()[-2:]} == {chosen}
    assert "trace_id" not in logged()[-1]  # no traceparent, no trace id made up


async def test_a_path_nobody_serves_is_logged_as_unmatched_without_its_text(
    client: httpx.AsyncClient, logged: Logged
) -> None:
    answer = await client.get(f"/probe/v1/people/{PERSONAL}?name={PERSONAL}")
    assert answer.status_code == 404
    (access,) = _access_lines(logged())
    assert (access["route"], access["status"]) == ("unmatched", 404)
    assert PERSONAL not in json.dumps(logged(), ensure_ascii=False)


async def test_a_failing_handler_is_a_500_access_line_with_the_request_ids(
    client: httpx.AsyncClient, logged: Logged
) -> None:
    answer = await client.get("/probe/v1/broken", headers={"X-Correlation-Id": "req-500"})
    assert answer.status_code == 500
    (access,) = _access_lines(logged())
    assert (access["route"], access["status"], access["correlation_id"]) == (
        "/probe/v1/broken",
        500,
        "req-500",
    )


async def test_probes_are_quiet_unless_they_fail(client: httpx.AsyncClient, logged: Logged) -> None:
    for probe in ("healthz", "readyz", "metrics"):
        assert (await client.get(f"/probe/{probe}")).status_code == 200
    assert _access_lines(logged()) == []


async def test_a_refusal_at_the_door_is_logged_too(
    client: httpx.AsyncClient, logged: Logged
) -> None:
    answer = await client.get("/probe/v1/participants/%00", headers={"traceparent": TRACEPARENT})
    assert answer.status_code == 400
    (access,) = _access_lines(logged())
    assert (access["status"], access["trace_id"]) == (400, TRACE_ID)


@pytest.mark.parametrize(
    ("traceparent", "trace_id"),
    [
        (TRACEPARENT, TRACE_ID),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later", TRACE_ID),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", None),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_trace_ids_come_only_from_a_valid_w3c_traceparent(
    traceparent: str | None, trace_id: str | None
) -> None:
    assert trace_id_of(traceparent) == trace_id


async def test_a_query_parameter_refused_is_logged_under_its_route_without_its_text(
    client: httpx.AsyncClient, logged: Logged
) -> None:
    # The refusal answers before the router runs (ADR 0073); its access line still names the
    # route the request was for, as the router's answers do, not `unmatched`.
    answer = await client.get(f"/probe/v1/participants/{PARTICIPANT}?name={PERSONAL}")
    assert answer.status_code == 400
    assert answer.json()["code"] == "unknown_query_parameter"
    (access,) = _access_lines(logged())
    assert (access["route"], access["status"]) == ("/probe/v1/participants/{participant_id}", 400)
    assert PERSONAL not in json.dumps(logged(), ensure_ascii=False)
