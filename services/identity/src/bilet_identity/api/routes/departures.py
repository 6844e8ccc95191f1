"""The routes of partings (docs/adr/0050): a pupil leaves the school or the programme, a
guardian's account is unlinked from a pupil."""

from uuid import UUID

from fastapi import APIRouter, Response

from bilet.http.context import Context
from bilet_identity.api.models import LeaveProgrammeRequest, ParticipantChangedResponse
from bilet_identity.api.problems import problems
from bilet_identity.api.routes.common import Service, participant_changed

router = APIRouter(prefix="/v1")


@router.post(
    "/participants/{participant_id:uuid}/departure",
    name="leave_programme",
    tags=["participants"],
    summary="A participant leaves their school or the programme (their school, its "
    "coordinator, the operator)",
    responses=problems(403, 404, 409, 422),
)
async def leave_programme(
    participant_id: UUID,
    body: LeaveProgrammeRequest,
    service: Service,
    context: Context,
    response: Response,
) -> ParticipantChangedResponse:
    """Record that the participant left (`reason`): `left_school` for none of the programme's
    schools (a move to one is `POST …/moves`), or `left_programme` while staying at the school.
    The school's list of pupils (`GET /schools/{id}/pupils`) no longer shows them, the
    participant's view shows `left`, and `ParticipantLeftProgramme` tells the other services.
    Their history stays theirs; a move to a school or an enrolment in a later season is their
    return. Answers the `participant_id`, `version` and `BVB-Position`.

    **Who:** the registrar of the participant's school, the coordinator of its region, the
    federal operator.

    **Refusals:** 403 `forbidden` (another role), 404 `unknown_participant` (also one outside
    the caller's school or region), 409 `participant_left` (left already), `participant_merged`
    (a closed second profile), `version_conflict`; 422 `invalid_request`.
    """
    committed = await service.leave_programme(context, participant_id, body.reason)
    return participant_changed(participant_id, committed, response)


@router.delete(
    "/participants/{participant_id:uuid}/guardians/{guardian_id:uuid}",
    name="unlink_guardian",
    tags=["participants"],
    summary="Remove a guardian's account from a participant (the registrar of their school)",
    responses=problems(403, 404, 409),
)
async def unlink_guardian(
    participant_id: UUID,
    guardian_id: UUID,
    service: Service,
    context: Context,
    response: Response,
) -> ParticipantChangedResponse:
    """Remove the link of a guardian's account (`guardian_id`) to the participant: their
    `guardians` no longer show it, and the identity provider drops the participant from the
    account's `children` claim (the grant other services authorise by). Answers the
    `participant_id`, the participant's `version` (a link does not change it) and
    `BVB-Position`.

    **Who:** the registrar of the participant's school only.

    **Refusals:** 403 `forbidden` (another role), 404 `unknown_participant` (also another
    school's pupil), `guardian_not_linked` (no such link, or removed already), 409
    `version_conflict`.
    """
    committed = await service.unlink_guardian(context, participant_id, guardian_id)
    return participant_changed(participant_id, committed, response)
