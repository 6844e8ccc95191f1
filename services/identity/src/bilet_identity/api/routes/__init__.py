"""The routes of `/identity/v1`: parse → command → handle → answer. Refusals are raised as
domain errors and become problem+json (`problems.on_domain_error`)."""

from fastapi import APIRouter

from bilet_identity.api.routes import participants, programme

router = APIRouter(prefix="/v1")
router.include_router(programme.router)
router.include_router(participants.router)
