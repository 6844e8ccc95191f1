"""The routes of `/diagnostics/v1`: parse → one use case → answer. Refusals are raised as domain
errors and become problem+json (`api.problems.on_domain_error`). `routers` are the service's
own routes (`attempts`, `results`); the read side's school progress (`progress`) is mounted
beside them by `app.py`.

They are handed to the frame as they are, not nested in one router: FastAPI matches a request
again at each level of included routers (twice a level), a few microseconds of every request
(docs/adr/0116)."""

from typing import Final

from fastapi import APIRouter

from bilet_diagnostics.api.routes import attempts, results

routers: Final[tuple[APIRouter, ...]] = (attempts.router, results.router)
