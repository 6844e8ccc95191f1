"""The routes of `/consent/v1`: parse → command → handle → answer. Refusals are raised as
domain errors and become problem+json (`problems.on_domain_error`)."""

from typing import Annotated, Final
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response

from bilet.crypto import is_erased
from bilet.http.consistency import PositionToken, send_positions
from bilet.http.context import ContextWithPositions
from bilet_consent.api import multipart
from bilet_consent.api.forms import read_form, submission_of
from bilet_consent.api.models import (
    ConsentCommandResponse,
    ConsentModel,
    ConsentStatusModel,
    ConsentSubmittedResponse,
    RejectConsentRequest,
    WithdrawConsentRequest,
)
from bilet_consent.api.openapi import SUBMIT_BODY
from bilet_consent.api.problems import problems
from bilet_consent.application.inputs import Committed, WrittenRequest
from bilet_consent.application.service import ConsentService
from bilet_consent.settings import SERVICE_NAME

ERASED_JSON: Final = {"$erased": True}


async def _service(request: Request) -> ConsentService:
    # async: a plain function would be run on a worker thread for every request (ADR 0054).
    service: ConsentService = request.app.state.consent
    return service


Service = Annotated[ConsentService, Depends(_service)]
# Commands wait (bounded) for the identity writes the request's position tokens name.
Context = ContextWithPositions

router = APIRouter(prefix="/v1")

# `If-Match` on the commands on a consent: the `ETag` of `GET /consents/{id}` (the version of the
# participant's consents). Malformed: 422 `invalid_request`; stale: 412 `stale_version`.
IfMatch = Annotated[
    str | None,
    Header(
        description="The `ETag` (version) of the consent as read: refused (412 `stale_version`) "
        "if the participant's consents changed since. Absent: decide on the current state.",
        pattern=r'^(W/)?"?[0-9]{1,18}"?$',
    ),
]
# The signed document's file name by type (the content decided the type: ADR 0015).
EXTENSIONS: Final = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    return int(if_match.removeprefix("W/").strip('"'))


def _attachment(consent_id: UUID, media_type: str) -> str:
    """`Content-Disposition` of the download: an ASCII `filename` and the Russian one in
    `filename*` (RFC 6266 with RFC 5987 encoding), which browsers prefer."""
    extension = EXTENSIONS.get(media_type, "bin")
    russian = quote(f"согласие-{consent_id}.{extension}", safe="")
    return f"attachment; filename=\"consent-{consent_id}.{extension}\"; filename*=UTF-8''{russian}"


def _answer(committed: Committed, response: Response) -> ConsentCommandResponse:
    send_positions(response, PositionToken(SERVICE_NAME, committed.position, committed.stream_id))
    if committed.version is not None:
        response.headers["ETag"] = f'"{committed.version}"'
    return ConsentCommandResponse(
        consent_id=committed.consent_id,
        participant_id=committed.participant_id,
        version=committed.version,
        position=committed.position,
    )


@router.post(
    "/consents",
    name="submit_consent",
    tags=["consents"],
    summary="The school submits a guardian's signed consent (multipart: `consent` + `document`)",
    status_code=201,
    responses=problems(403, 404, 409, 410, 415, 503),
    openapi_extra=SUBMIT_BODY,
)
async def submit_consent(
    request: Request, response: Response, service: Service, ctx: Context
) -> ConsentSubmittedResponse:
    """Records a guardian's signed consent for a participant: `consent` is the form's fields as
    JSON (`SubmitConsentForm`), `document` the signed scan. Only a copy rebuilt from the document's
    content is stored and served; the consent starts `pending` until a verifier decides.

    **Who:** the registrar of the participant's school. Send identity's `BVB-Position` after just
    registering the pupil: the service waits (bounded) for it. Answers 201 with `Location` (the
    new consent), its id, the version of the participant's consents and `BVB-Position`, which
    makes later reads see this consent.

    **Refusals:** 400 `invalid_text`; 403 `forbidden` (any other role), `outside_analytics_purpose`
    (analyst); 404 `unknown_participant`
    (unknown, or not of the caller's school); 409 `consent_exists`, `erasure_scheduled`,
    `participant_merged` (a second profile of a child: submit for `kept_participant_id`),
    `version_conflict`; 410 `participant_erased`; 413 `document_too_large`; 415
    `unsupported_document_type`, `unsupported_document`; 422 `invalid_request`, `invalid_guardian`,
    `invalid_consent`, `authority_required`, `consent_expired`, `empty_document`; 503
    `document_check_busy` (send again shortly).
    """
    body = await request.body()
    form, document = read_form(multipart.parse(request.headers.get("content-type"), body))
    committed = await service.submit(ctx, submission_of(form, service), document)
    answered = _answer(committed, response)
    location = request.url_for("get_consent", consent_id=str(committed.consent_id))
    response.headers["Location"] = location.path
    assert committed.document_id is not None
    return ConsentSubmittedResponse(**answered.model_dump(), document_id=committed.document_id)


@router.post(
    "/consents/{consent_id}/verify",
    name="verify_consent",
    tags=["consents"],
    summary="A verifier accepts the consent: it opens participation (and links the guardian)",
    responses=problems(403, 404, 409, 410, 412),
)
async def verify_consent(
    consent_id: UUID, response: Response, service: Service, ctx: Context, if_match: IfMatch = None
) -> ConsentCommandResponse:
    """Accepts a pending consent after checking the document against the form: it comes into
    force (participation opens for its purposes) and the signer is linked as the guardian.

    **Who:** the operator (any participant); a coordinator for participants of their region. No
    body; `If-Match` (the consent's `ETag`) to decide only on what was read. Answers the consent
    id, the new version of the participant's consents (also the `ETag`) and `BVB-Position`,
    which makes later reads (here, in the portfolio) see the change.

    **Refusals:** 403 `forbidden` (any other role), `outside_analytics_purpose` (analyst); 404
    `unknown_consent` (unknown, or outside the coordinator's region), `unknown_participant`; 409
    `consent_not_pending`, `erasure_scheduled`, `version_conflict`; 410 `participant_erased`;
    412 `stale_version` (`If-Match` no longer current); 422 `consent_expired`,
    `invalid_request` (a malformed `If-Match`).
    """
    committed = await service.verify(ctx, consent_id, _expected_version(if_match))
    return _answer(committed, response)


@router.post(
    "/consents/{consent_id}/reject",
    name="reject_consent",
    tags=["consents"],
    summary="A verifier refuses the consent, with reasons the school can act on",
    responses=problems(403, 404, 409, 410, 412),
)
async def reject_consent(
    consent_id: UUID,
    body: RejectConsentRequest,
    response: Response,
    service: Service,
    ctx: Context,
    if_match: IfMatch = None,
) -> ConsentCommandResponse:
    """Refuses a pending consent, with `reasons` (at least one) the school can act on; the school
    then submits a new one.

    **Who:** the operator (any participant); a coordinator for participants of their region.
    `If-Match` (the consent's `ETag`) to decide only on what was read. Answers the consent id,
    the new version (also the `ETag`) and `BVB-Position`, which makes later reads see the change.

    **Refusals:** 403 `forbidden` (any other role), `outside_analytics_purpose` (analyst); 404
    `unknown_consent` (unknown, or outside the coordinator's region), `unknown_participant`; 409
    `consent_not_pending`, `erasure_scheduled`, `version_conflict`; 410 `participant_erased`;
    412 `stale_version` (`If-Match` no longer current); 422 `invalid_request` (also a malformed
    `If-Match`), `invalid_consent`.
    """
    reasons = tuple(body.reasons)
    committed = await service.reject(ctx, consent_id, reasons, _expected_version(if_match))
    return _answer(committed, response)


@router.post(
    "/consents/{consent_id}/withdraw",
    name="withdraw_consent",
    tags=["consents"],
    summary="The guardian (or the school on their written request) withdraws the consent, or "
    "some of its purposes",
    responses=problems(403, 404, 409, 410, 412),
)
async def withdraw_consent(
    consent_id: UUID,
    response: Response,
    service: Service,
    ctx: Context,
    body: WithdrawConsentRequest | None = None,
    if_match: IfMatch = None,
) -> ConsentCommandResponse:
    """Withdraws a pending or verified consent. Whole (no `purposes`, or `programme_participation`
    among them): every consent that could still open processing ends and the participant's
    personal data is scheduled for destruction. Otherwise only the listed `purposes` end;
    withdrawing `health_data` destroys the health data at once.

    **Who:** the guardian of the child (the token's `children` claim), with no body at all for
    the whole consent; the registrar of the participant's school, only with the guardian's
    written `request` (reference and date received). `If-Match` (the consent's `ETag`) to act
    only on what was read. Answers the consent id, the new version (also the `ETag`) and
    `BVB-Position`.

    **Refusals:** 403 `forbidden` (any other role), `outside_analytics_purpose` (analyst); 404
    `unknown_consent` (unknown, or not the caller's child or school), `unknown_participant`; 409
    `consent_not_in_force`, `erasure_scheduled`, `version_conflict`; 410 `participant_erased`;
    412 `stale_version` (`If-Match` no longer current); 422 `invalid_request` (also a malformed
    `If-Match`), `invalid_consent` (also a malformed `request.reference`),
    `purpose_not_consented`, `written_request_required`.
    """
    body = body or WithdrawConsentRequest()
    request = (
        WrittenRequest(body.request.reference, body.request.received_on)
        if body.request is not None
        else None
    )
    purposes = tuple(body.purposes) if body.purposes is not None else None
    committed = await service.withdraw(
        ctx, consent_id, purposes, request, _expected_version(if_match)
    )
    return _answer(committed, response)


def _guardian(values: dict[str, object]) -> dict[str, object]:
    return {
        name.removeprefix("guardian_"): ERASED_JSON if is_erased(value) else value
        for name, value in sorted(values.items())
    }


@router.get(
    "/consents/{consent_id}",
    name="get_consent",
    tags=["consents"],
    summary="A consent, with the signer's details (audited)",
    responses=problems(403, 404),
)
async def get_consent(
    consent_id: UUID, response: Response, service: Service, ctx: Context
) -> ConsentModel:
    """One consent with its terms, status and the signer's details; every read is audited.

    **Who, and what they see:** the operator and the coordinator of the participant's region see
    everything; the registrar of the participant's school and the guardian who signed it (their
    child, and `guardian_id` is their account) see the passport masked. Destroyed details read
    `{"$erased": true}` and `status` is `erased`. `version` (also the `ETag`) is the version of
    the participant's consents: send it as `If-Match` to verify, reject or withdraw.

    **Refusals:** 403 `forbidden` (a role with no access, or a guardian of the child who did not
    sign this consent), `outside_analytics_purpose` (analyst); 404 `unknown_consent` (unknown,
    or not the caller's), `unknown_participant`.
    """
    view = await service.consent(ctx, consent_id)
    response.headers["ETag"] = f'"{view.version}"'
    consent = view.consent
    return ConsentModel(
        consent_id=consent.consent_id,
        participant_id=view.participant_id,
        status="erased" if view.erased else consent.status.value,
        school_id=consent.school_id,
        form_version=consent.form_version,
        purposes=sorted(consent.purposes),
        effective_purposes=sorted(consent.effective_purposes),
        signed_on=consent.signed_on,
        valid_until=consent.valid_until,
        relationship=consent.relationship,
        guardian_id=consent.guardian_id,
        guardian=_guardian(view.guardian),
        rejection_reasons=list(consent.rejection_reasons),
        withdrawn_on=consent.withdrawn_on,
        erase_by=view.erase_by,
        erased=view.erased,
        version=view.version,
        position=view.position,
    )


@router.get(
    "/consents/{consent_id}/document",
    name="get_consent_document",
    tags=["consents"],
    summary="The signed document itself (audited)",
    response_class=Response,
    responses={
        200: {
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in EXTENSIONS
            },
            "description": "The document as stored (the copy rebuilt from the upload), in its "
            "own type.",
            "headers": {
                "Content-Disposition": {
                    "description": "An attachment: `filename` `consent-<id>.<pdf|jpg|png>` and "
                    "`filename*` (RFC 5987) `согласие-<id>.<…>`.",
                    "schema": {"type": "string"},
                },
            },
        },
        **problems(403, 404, 410),
    },
)
async def get_consent_document(consent_id: UUID, service: Service, ctx: Context) -> Response:
    """Downloads the signed document as stored (PDF, JPEG or PNG), as an attachment; every download
    is audited. It holds the guardian's passport: never cached.

    **Who:** the operator; the coordinator of the participant's region; the registrar of the
    participant's *current* school (a school the pupil left gets 404). Never a guardian.

    **Refusals:** 403 `forbidden` (any other role), `outside_analytics_purpose` (analyst); 404
    `unknown_consent` (unknown, or not the caller's), `unknown_participant`; 410 `document_gone`
    (destroyed with the participant's data).
    """
    media_type, content = await service.document(ctx, consent_id)
    return Response(
        content,
        media_type=media_type,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": _attachment(consent_id, media_type),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/participants/{participant_id}/status",
    name="get_consent_status",
    tags=["consents"],
    summary="Whether the participant may take part, and for what",
    responses=problems(403, 404),
)
async def get_consent_status(
    participant_id: UUID, service: Service, ctx: Context
) -> ConsentStatusModel:
    """Whether the participant may take part, and for which purposes: `state`, the consent it
    speaks of (in force, else the latest), its purposes and end date, a scheduled destruction
    date, and how many consents wait for verification. No personal data of the guardian.

    **Who:** the operator; the coordinator of the participant's region; the registrar and the
    navigator of the participant's school; the guardian of the child; the pupil themself. All see
    the same answer.

    **Refusals:** 403 `forbidden` (any other role), `outside_analytics_purpose` (analyst); 404
    `unknown_participant` (unknown, or not the caller's).
    """
    view = await service.status(ctx, participant_id)
    return ConsentStatusModel(
        participant_id=view.participant_id,
        state=view.state,
        consent_id=view.consent.consent_id if view.consent is not None else None,
        purposes=list(view.purposes),
        valid_until=view.valid_until,
        erase_by=view.erase_by,
        pending_consents=view.pending,
        position=view.position,
    )
