"""The routes of `/identity/v1`: parse → command → handle → answer. Refusals are raised as
domain errors and become problem+json (`problems.on_domain_error`)."""

from fastapi import APIRouter

from bilet_identity.api.routes import departures, participants, programme, pupils, reviews

# Each module's router carries the `/v1` prefix itself: a prefix on an enclosing router is not in
# the matched route's path, which names requests in logs and metrics (`bilet.http.telemetry`).
router = APIRouter()
router.include_router(programme.router)
router.include_router(participants.router)
router.include_router(departures.router)
router.include_router(pupils.router)
router.include_router(reviews.router)
