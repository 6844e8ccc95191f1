"""What the HTTP frame's tests share: a development signer, and a client of a service app built
by the frame around a test's router."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from bilet.http import ServiceDescription, create_service_app
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.settings import PlatformSettings

ServeRouter = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def signer(tmp_path: Path) -> DevelopmentSigner:
    return ensure_development_keys(tmp_path)


@pytest.fixture
def serve_router(tmp_path: Path) -> ServeRouter:
    """`async with serve_router(router, "name") as client`: the frame's app for `router` under
    `/name/`, in development settings (the `signer` fixture's key; CORS for the `cors_origins`
    given, none by default), reached in-process."""

    @asynccontextmanager
    async def serve(
        router: APIRouter,
        name: str,
        *,
        raise_app_exceptions: bool = True,
        cors_origins: str = "",
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_service_app(
            ServiceDescription(name=name, title=name.title(), summary="For tests."),
            [router],
            settings=PlatformSettings(var_dir=tmp_path, cors_origins=cors_origins),
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    return serve
