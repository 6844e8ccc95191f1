"""What the route modules share: the service from the app's state, the read-your-writes answer
header of commands and the waits of reads that carry it back."""

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request, Response

from bilet.http.consistency import PositionToken, ReadYourWrites, position_header, send_positions
from bilet.http.context import Context
from bilet_recommender.application.service import RecommenderService
from bilet_recommender.domain import opportunity
from bilet_recommender.settings import SERVICE_NAME

__all__ = [
    "Context",
    "InsightsVisibility",
    "IssuingVisibility",
    "PositionHeader",
    "Service",
    "answer_position",
]

PositionHeader = Annotated[
    str | None,
    position_header(
        "Read-your-writes: the `BVB-Position` value(s) commands of this service, "
        "identity, consent, diagnostics or events returned, comma-separated. The read waits "
        "(2 s at most) until the recommender has applied them.",
        # The recommender's feeds (adapters.evidence_projection).
        ("identity", "consent", "diagnostics", "events", "recommender"),
    ),
]


async def _service(request: Request) -> RecommenderService:
    # Async: a plain function dependency would run on a worker thread, once per request.
    service: RecommenderService = request.app.state.recommender
    return service


async def _issuing(request: Request) -> ReadYourWrites:
    waits: ReadYourWrites = request.app.state.issuing_visibility
    return waits


async def _insights(request: Request) -> ReadYourWrites:
    waits: ReadYourWrites = request.app.state.insights_visibility
    return waits


def answer_position(response: Response, position: int, opportunity_id: UUID) -> int:
    """`BVB-Position`: where the opportunity's stream stands after this request; a read of the
    region's opportunities that carries it back waits until it is applied. Returned for the
    body's `position`."""
    stream = opportunity.stream_id(opportunity_id)
    send_positions(response, PositionToken(SERVICE_NAME, position, stream))
    return position


Service = Annotated[RecommenderService, Depends(_service)]
IssuingVisibility = Annotated[ReadYourWrites, Depends(_issuing)]
InsightsVisibility = Annotated[ReadYourWrites, Depends(_insights)]
