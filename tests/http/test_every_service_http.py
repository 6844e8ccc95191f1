"""The frame's HTTP semantics hold in every service (bilet.http.semantics, docs/adr/0029, 0049):
each GET route of each service's OpenAPI answers HEAD with GET's status and headers and no body,
each operation that takes a JSON body lists 415 among its responses, and an analyst refused
anywhere learns why (403 `outside_analytics_purpose`)."""

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_consent.app import create_app as consent_app
from bilet_consent.settings import ConsentSettings
from bilet_diagnostics.app import create_app as diagnostics_app
from bilet_diagnostics.settings import DiagnosticsSettings
from bilet_events.app import create_app as events_app
from bilet_events.settings import EventsSettings
from bilet_identity.app import create_app as identity_app
from bilet_identity.settings import IdentitySettings
from bilet_portfolio.app import create_app as portfolio_app
from bilet_portfolio.settings import PortfolioSettings
from bilet_recommender.app import create_app as recommender_app
from bilet_recommender.settings import RecommenderSettings

SERVICES: dict[str, Callable[[Path], FastAPI]] = {
    "identity": lambda var: identity_app(IdentitySettings(var_dir=var)),
    "consent": lambda var: consent_app(ConsentSettings(var_dir=var)),
    "portfolio": lambda var: portfolio_app(PortfolioSettings(var_dir=var)),
    "diagnostics": lambda var: diagnostics_app(DiagnosticsSettings(var_dir=var)),
    "events": lambda var: events_app(EventsSettings(var_dir=var)),
    "recommender": lambda var: recommender_app(RecommenderSettings(var_dir=var)),
}
# Headers that differ between any two answers, whatever the method.
PER_ANSWER = {"date", "x-correlation-id", "traceparent", "x-request-id"}


def example_value(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return str(uuid.UUID(int=1))
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 2019))
    return "x"


def concrete_path(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", example_value(parameter))
    return path


@pytest.fixture(params=sorted(SERVICES))
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = SERVICES[request.param](tmp_path)
    async with app_lifespan(app):
        yield app


async def test_every_get_route_answers_head_like_get(service: FastAPI, tmp_path: Path) -> None:
    token = ensure_development_keys(tmp_path).mint(Role.OPERATOR)
    headers = {"authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=service)
    differences: list[str] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path, item in service.openapi()["paths"].items():
            if "get" not in item or "text/event-stream" in str(item["get"]["responses"]):
                continue  # an event stream never ends under the in-process transport
            if path.endswith("/metrics"):
                continue  # counts the GET just made: its length changes between any two answers
            target = concrete_path(path, item["get"])
            got = await client.get(target, headers=headers)
            head = await client.head(target, headers=headers)
            got_headers = {k: v for k, v in got.headers.items() if k not in PER_ANSWER}
            head_headers = {k: v for k, v in head.headers.items() if k not in PER_ANSWER}
            if head.status_code != got.status_code or head_headers != got_headers or head.content:
                differences.append(f"HEAD {target}: {head.status_code} vs GET {got.status_code}")
    assert differences == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_json_body_operation_lists_415(name: str, tmp_path: Path) -> None:
    spec = SERVICES[name](tmp_path).openapi()
    missing = [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
        and "415" not in operation["responses"]
    ]
    assert missing == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_if_match_operation_answers_412_stale_version(name: str, tmp_path: Path) -> None:
    """One answer to a stale `If-Match` across the suite (docs/adr/0050): 412 `stale_version`,
    listed and described wherever an operation takes the header (identity answered 409)."""
    spec = SERVICES[name](tmp_path).openapi()
    taking = [
        (f"{method.upper()} {path}", operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if any(
            parameter["in"] == "header" and parameter["name"].lower() == "if-match"
            for parameter in operation.get("parameters", [])
        )
    ]
    unlisted = [
        route
        for route, operation in taking
        if "412" not in operation["responses"]
        or "412 `stale_version`" not in operation.get("description", "")
    ]
    assert unlisted == []


async def test_an_analyst_refused_anywhere_is_told_the_purpose(
    service: FastAPI, tmp_path: Path
) -> None:
    token = ensure_development_keys(tmp_path).mint(Role.ANALYST)
    headers = {"authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=service)
    refusals: dict[str, str] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path, item in service.openapi()["paths"].items():
            for method, operation in item.items():
                if "/v1/" not in path or "text/event-stream" in str(operation["responses"]):
                    continue
                answer = await client.request(
                    method, concrete_path(path, operation), headers=headers
                )
                if answer.status_code == 403:
                    refusals[f"{method.upper()} {path}"] = answer.json()["code"]
                    assert (
                        "outside_analytics_purpose" in operation["responses"]["403"]["description"]
                    )
    assert refusals, "no route refused the analyst: nothing was checked"
    assert set(refusals.values()) == {"outside_analytics_purpose"}, refusals
