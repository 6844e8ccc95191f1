"""The routes of `/recommender/v1`: parse → one use case → answer. Refusals are raised as domain
errors and become problem+json (`api.problems.on_domain_error`)."""

from fastapi import APIRouter

from bilet_recommender.api.routes import insights, opportunities, recommendations

router = APIRouter()
router.include_router(recommendations.router)
router.include_router(opportunities.router)
router.include_router(insights.router)
