"""Route dependencies resolved on the event loop, never handed to a worker thread.

FastAPI runs a dependency that is a plain function (`def`, not `async def`) on Starlette's
thread pool: every request pays a hand-off to a worker thread and back (a queue put, a thread
wake-up, a future resolved from the other thread). The suite's dependencies only look something
up (`request.app.state.…`, a header), so that hand-off was pure overhead on every command and
read — under load, with the GIL contended, it was one of the largest costs of a registration
(docs/adr/0054). `create_service_app` refuses a route with such a dependency; a dependency that
really blocks says so by running its blocking part with `run_in_threadpool` itself.
"""

import inspect
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute


def _is_coroutine_callable(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    dunder = getattr(call, "__call__", None)  # noqa: B004 — an instance with an async __call__
    return inspect.iscoroutinefunction(dunder) or inspect.isasyncgenfunction(dunder)


def _routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # an included router's routes
        if included is not None:
            yield from _routes(included.routes)


def _threaded(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        call = sub.call
        # A class as a dependency (a pydantic model of parameters) is instantiated, not run.
        if call is not None and not inspect.isclass(call) and not _is_coroutine_callable(call):
            yield f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', call)}"
        yield from _threaded(sub)


def threaded_dependencies(app: FastAPI) -> list[str]:
    """`METHOD /path: module.function` of each route dependency FastAPI would run on a worker
    thread with every request (a plain function), sorted."""
    found = {
        f"{','.join(sorted(route.methods or ()))} {route.path}: {name}"
        for route in _routes(app.routes)
        for name in _threaded(route.dependant)
    }
    return sorted(found)
