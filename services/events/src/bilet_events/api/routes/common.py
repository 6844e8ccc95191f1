"""What the route modules share: the service from the app's state, the read-your-writes answer
header of commands and the wait of reads that carry it back."""

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request, Response

from bilet.http.consistency import PositionToken, ReadYourWrites, position_header, send_positions
from bilet.http.context import Context
from bilet_events.application.service import EventsService
from bilet_events.domain import career_event
from bilet_events.settings import SERVICE_NAME

__all__ = ["Context", "PositionHeader", "Service", "Visibility", "answer_position"]

PositionHeader = Annotated[
    str | None,
    position_header(
        "Read-your-writes: the `BVB-Position` value(s) commands of this service, "
        "identity or consent returned, comma-separated. The read waits (2 s at most) until the "
        "catalogue has applied them.",
        ("identity", "consent", "events"),  # the catalogue's feeds (adapters.facts)
    ),
]


async def _service(request: Request) -> EventsService:
    # Async: a plain function dependency would run on a worker thread, once per request.
    service: EventsService = request.app.state.events
    return service


def answer_position(response: Response, position: int, career_event_id: UUID) -> int:
    """`BVB-Position`: where the career event's published stream stands after this request; a
    reader (the catalogue, the portfolio) that carries it back waits until it has applied that
    far. Returned for the body's `position`."""
    stream = career_event.stream_id(career_event_id)
    send_positions(response, PositionToken(SERVICE_NAME, position, stream))
    return position


async def _read_your_writes(request: Request) -> ReadYourWrites:
    waits: ReadYourWrites = request.app.state.read_your_writes
    return waits


Service = Annotated[EventsService, Depends(_service)]
Visibility = Annotated[ReadYourWrites, Depends(_read_your_writes)]
