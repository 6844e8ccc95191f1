"""What the route modules share: the service from the app's state and the read-your-writes
answer header."""

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request, Response

from bilet.http.consistency import PositionToken, send_positions
from bilet.http.context import Context
from bilet_diagnostics.application.service import DiagnosticsService
from bilet_diagnostics.domain import attempt
from bilet_diagnostics.settings import SERVICE_NAME

__all__ = ["Context", "Service", "answer_position"]


async def _service(request: Request) -> DiagnosticsService:
    # Async: a plain function dependency would run on a worker thread, once per request.
    service: DiagnosticsService = request.app.state.diagnostics
    return service


Service = Annotated[DiagnosticsService, Depends(_service)]


def answer_position(response: Response, position: int, attempt_id: UUID) -> None:
    """`BVB-Position`: where the attempt's published stream stands after this request; a reader
    (the portfolio) that carries it back waits until it has applied that far."""
    send_positions(response, PositionToken(SERVICE_NAME, position, attempt.stream_id(attempt_id)))
