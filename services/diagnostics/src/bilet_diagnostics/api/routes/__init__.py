"""The routes of `/diagnostics/v1`: parse → one use case → answer. Refusals are raised as domain
errors and become problem+json (`api.problems.on_domain_error`). `router` holds the service's
own routes (`attempts`, `results`); the read side's school progress (`progress`) is mounted
beside them by `app.py`."""

from fastapi import APIRouter

from bilet_diagnostics.api.routes import attempts, results

router = APIRouter()
router.include_router(attempts.router)
router.include_router(results.router)
