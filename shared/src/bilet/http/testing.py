"""Test support (imported by tests only, like `bilet.projections.testing`): an ASGI app started and
stopped as a server would, for tests that call it in-process.

Every test goes through `app_lifespan`, so the bounds on startup and shutdown are one decision: they
only stop a hang. With `make test`'s parallel workers sharing two cores (ADR 0064), the embedded
host's shutdown (six services, their feeds, relays and audit threads) took longer than
`asgi_lifespan`'s default of five seconds, and a test that had passed failed at teardown.
"""

from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

# Bounds on a hang, never a measure of speed: generous, because the CI machine is shared.
STARTUP_TIMEOUT_SECONDS = 300.0
SHUTDOWN_TIMEOUT_SECONDS = 120.0


def app_lifespan(app: ASGIApp) -> LifespanManager:
    """`app` with its lifespan run; `async with app_lifespan(app) as manager:` then call
    `manager.app`."""
    return LifespanManager(
        app, startup_timeout=STARTUP_TIMEOUT_SECONDS, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
    )
