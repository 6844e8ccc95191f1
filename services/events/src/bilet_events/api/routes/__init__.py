"""The routes of `/events/v1`: parse → one use case → answer. Refusals are raised as domain
errors and become problem+json (`api.problems.on_domain_error`)."""

from fastapi import APIRouter

from bilet_events.api.routes import bookings, career_events, on_the_day

router = APIRouter()
router.include_router(career_events.router)
router.include_router(bookings.router)
router.include_router(on_the_day.router)
