"""The embedded host: one ASGI application that serves all six services under their own prefixes.

Each service stays its own FastAPI application with its own OpenAPI document, exactly as it runs
alone in Kubernetes; the host only dispatches a request by the first segment of its path and runs
every service's lifespan, so the paths a frontend sees are the same in both modes.
"""

import importlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from bilet.services import SERVICE_NAMES


@dataclass(frozen=True)
class MountedService:
    name: str
    app: FastAPI

    @property
    def docs_path(self) -> str:
        return self.app.docs_url or ""

    @property
    def openapi_path(self) -> str:
        return self.app.openapi_url or ""


def load_services(names: tuple[str, ...] = SERVICE_NAMES) -> list[MountedService]:
    """Build each service's application through its own composition root (`bilet_<name>.app`):
    `create_embedded_app()` where a service has one (it then loads its demo data at start),
    else `create_app()`."""
    services = []
    for name in names:
        module = importlib.import_module(f"bilet_{name}.app")
        factory = getattr(module, "create_embedded_app", module.create_app)
        services.append(MountedService(name=name, app=factory()))
    return services


class EmbeddedHost:
    """ASGI dispatcher: `/<service>/...` goes, unchanged, to that service's application."""

    def __init__(self, services: list[MountedService]) -> None:
        self.services = services
        self._by_prefix: Mapping[str, FastAPI] = {s.name: s.app for s in services}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        first_segment = scope["path"].lstrip("/").split("/", 1)[0]
        app = self._by_prefix.get(first_segment)
        if app is not None:
            await app(scope, receive, send)
        elif scope["type"] == "http":
            await self._index_or_not_found(scope, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run every service's startup, and on exit its shutdown in reverse order."""
        async with AsyncExitStack() as stack:
            for service in self.services:
                await stack.enter_async_context(service.app.router.lifespan_context(service.app))
            yield

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        started = False
        try:
            async with self.running():
                started = True
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
                assert message["type"] == "lifespan.shutdown"
        except BaseException as exc:
            phase = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{phase}.failed", "message": repr(exc)})
            raise
        await send({"type": "lifespan.shutdown.complete"})

    async def _index_or_not_found(self, scope: Scope, send: Send) -> None:
        if scope["path"] in ("", "/"):
            status = 200
            content_type = b"application/json"
            body: dict[str, Any] = {
                "platform": "Bilet",
                "services": {
                    s.name: {"docs": s.docs_path, "openapi": s.openapi_path} for s in self.services
                },
            }
        else:
            status = 404
            content_type = b"application/problem+json"
            body = {
                "type": "about:blank",
                "title": "Not Found",
                "status": 404,
                "code": "not_found",
                "detail": "No service is mounted at this path; see / for the services.",
            }
        payload = json.dumps(body, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def create_embedded_host() -> EmbeddedHost:
    return EmbeddedHost(load_services())
