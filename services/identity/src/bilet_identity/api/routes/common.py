"""What every route of `/identity/v1` shares: the service, the position answers."""

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request, Response

from bilet.http.consistency import PositionToken, send_positions
from bilet_identity.api.models import (
    ParticipantChangedResponse,
)
from bilet_identity.application.inputs import (
    Committed,
)
from bilet_identity.application.service import IdentityService
from bilet_identity.settings import SERVICE_NAME


async def _service(request: Request) -> IdentityService:
    # async: a plain function would be run on a worker thread for every request (ADR 0054).
    service: IdentityService = request.app.state.identity
    return service


Service = Annotated[IdentityService, Depends(_service)]
SeasonPath = Annotated[int, Path(ge=2018, le=2100)]


def answer_position(response: Response, position: int, stream_id: str | None = None) -> int:
    """The body's `position`, and the read-your-writes token in the BVB-Position header."""
    send_positions(response, PositionToken(SERVICE_NAME, position, stream_id))
    return position


def participant_changed(
    participant_id: UUID, committed: Committed, response: Response
) -> ParticipantChangedResponse:
    return ParticipantChangedResponse(
        participant_id=participant_id,
        version=committed.version,
        position=answer_position(response, committed.position, f"participant-{participant_id}"),
    )
