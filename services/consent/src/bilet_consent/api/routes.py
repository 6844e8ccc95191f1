"""The routes of `/consent/v1`: parse → command → handle → answer. Refusals are raised as
domain errors and become problem+json (`problems.on_domain_error`)."""

from typing import Annotated, Final
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from bilet.crypto import is_erased
from bilet.http.consistency import PositionToken, send_positions
from bilet.http.context import ContextWithPositions
from bilet.http.guard import has_hostile_text
from bilet.http.problems import Problem
from bilet_consent.api import multipart
from bilet_consent.api.models import (
    ConsentCommandResponse,
    ConsentModel,
    ConsentStatusModel,
    ConsentSubmittedResponse,
    RejectConsentRequest,
    SubmitConsentForm,
    WithdrawConsentRequest,
)
from bilet_consent.api.openapi import SUBMIT_BODY
from bilet_consent.api.problems import problems
from bilet_consent.application.inputs import Committed, SubmissionInput, WrittenRequest
from bilet_consent.application.service import ConsentService
from bilet_consent.domain.guardian import Authority, Contact, Guardian, GuardianName, Passport
from bilet_consent.settings import SERVICE_NAME

ERASED_JSON: Final = {"$erased": True}


def _service(request: Request) -> ConsentService:
    service: ConsentService = request.app.state.consent
    return service


Service = Annotated[ConsentService, Depends(_service)]
# Commands wait (bounded) for the identity writes the request's position tokens name.
Context = ContextWithPositions

router = APIRouter(prefix="/v1")


def _answer(committed: Committed, response: Response) -> ConsentCommandResponse:
    send_positions(response, PositionToken(SERVICE_NAME, committed.position, committed.stream_id))
    return ConsentCommandResponse(
        consent_id=committed.consent_id,
        participant_id=committed.participant_id,
        version=committed.version,
        position=committed.position,
    )


def _form(parts: dict[str, multipart.Part]) -> tuple[SubmitConsentForm, bytes]:
    consent, document = parts.get("consent"), parts.get("document")
    if consent is None or document is None:
        raise Problem(
            422,
            "invalid_request",
            "The request is not valid",
            "Send two fields: `consent` (JSON) and `document` (the signed form).",
        )
    try:
        text = consent.data.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "invalid_text", "Invalid text", "`consent` is not UTF-8.") from None
    try:
        form = SubmitConsentForm.model_validate_json(text)
    except ValidationError as error:
        raise Problem(
            422,
            "invalid_request",
            "The request is not valid",
            "See `errors` for where and why.",
            errors=[
                {"loc": ["consent", *e["loc"]], "type": e["type"], "msg": e["msg"]}
                for e in error.errors(include_url=False, include_input=False)
            ],
        ) from None
    if has_hostile_text(form.model_dump(mode="json")):
        raise Problem(400, "invalid_text", "Invalid text", "`consent` holds control characters.")
    return form, document.data


def _submission(form: SubmitConsentForm, service: ConsentService) -> SubmissionInput:
    today = service.today()
    given = form.guardian
    authority = (
        Authority.parse(
            given.authority.document, given.authority.number, given.authority.issued_on, today
        )
        if given.authority is not None
        else None
    )
    guardian = Guardian(
        GuardianName.parse(given.last_name, given.first_name, given.patronymic),
        Passport.parse(
            given.passport.series,
            given.passport.number,
            given.passport.issued_by,
            given.passport.issued_on,
            today,
        ),
        authority,
        Contact.parse(given.phone, given.email),
    )
    return SubmissionInput(
        participant_id=form.participant_id,
        form_version=form.form_version,
        purposes=tuple(form.purposes),
        signed_on=form.signed_on,
        valid_until=form.valid_until,
        relationship=given.relationship,
        guardian=guardian,
        guardian_id=given.guardian_id,
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
    registering the pupil: the service waits (bounded) for it. The answer's `BVB-Position` makes
    later reads see this consent.

    **Refusals:** 400 `invalid_text`; 403 `forbidden` (any other role); 404 `unknown_participant`
    (unknown, or not of the caller's school); 409 `consent_exists`, `erasure_scheduled`,
    `version_conflict`; 410 `participant_erased`; 413 `document_too_large`; 415
    `unsupported_document_type`, `unsupported_document`; 422 `invalid_request`, `invalid_guardian`,
    `invalid_consent`, `authority_required`, `consent_expired`, `empty_document`; 503
    `document_check_busy` (send again shortly).
    """
    body = await request.body()
    form, document = _form(multipart.parse(request.headers.get("content-type"), body))
    committed = await service.submit(ctx, _submission(form, service), document)
    answered = _answer(committed, response)
    assert committed.document_id is not None
    return ConsentSubmittedResponse(**answered.model_dump(), document_id=committed.document_id)


@router.post(
    "/consents/{consent_id}/verify",
    name="verify_consent",
    tags=["consents"],
    summary="A verifier accepts the consent: it opens participation (and links the guardian)",
    responses=problems(403, 404, 409, 410),
)
async def verify_consent(
    consent_id: UUID, response: Response, service: Service, ctx: Context
) -> ConsentCommandResponse:
    """Accepts a pending consent after checking the document against the form: it comes into
    force (participation opens for its purposes) and the signer is linked as the guardian.

    **Who:** the operator (any participant); a coordinator for participants of their region. No
    body. The answer's `BVB-Position` makes later reads (here, in the portfolio) see the change.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_consent` (unknown, or outside the
    coordinator's region), `unknown_participant`; 409 `consent_not_pending`, `erasure_scheduled`,
    `version_conflict`; 410 `participant_erased`; 422 `consent_expired`.
    """
    return _answer(await service.verify(ctx, consent_id), response)


@router.post(
    "/consents/{consent_id}/reject",
    name="reject_consent",
    tags=["consents"],
    summary="A verifier refuses the consent, with reasons the school can act on",
    responses=problems(403, 404, 409, 410),
)
async def reject_consent(
    consent_id: UUID,
    body: RejectConsentRequest,
    response: Response,
    service: Service,
    ctx: Context,
) -> ConsentCommandResponse:
    """Refuses a pending consent, with `reasons` (at least one) the school can act on; the school
    then submits a new one.

    **Who:** the operator (any participant); a coordinator for participants of their region. The
    answer's `BVB-Position` makes later reads see the change.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_consent` (unknown, or outside the
    coordinator's region), `unknown_participant`; 409 `consent_not_pending`, `erasure_scheduled`,
    `version_conflict`; 410 `participant_erased`; 422 `invalid_request`, `invalid_consent`.
    """
    return _answer(await service.reject(ctx, consent_id, tuple(body.reasons)), response)


@router.post(
    "/consents/{consent_id}/withdraw",
    name="withdraw_consent",
    tags=["consents"],
    summary="The guardian (or the school on their written request) withdraws the consent, or "
    "some of its purposes",
    responses=problems(403, 404, 409, 410),
)
async def withdraw_consent(
    consent_id: UUID,
    body: WithdrawConsentRequest,
    response: Response,
    service: Service,
    ctx: Context,
) -> ConsentCommandResponse:
    """Withdraws a pending or verified consent. Whole (no `purposes`, or `programme_participation`
    among them): every consent that could still open processing ends and the participant's
    personal data is scheduled for destruction. Otherwise only the listed `purposes` end;
    withdrawing `health_data` destroys the health data at once.

    **Who:** the guardian of the child (the token's `children` claim); the registrar of the
    participant's school, only with the guardian's written `request` (reference and date received).

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_consent` (unknown, or not the
    caller's child or school), `unknown_participant`; 409 `consent_not_in_force`,
    `erasure_scheduled`, `version_conflict`; 410 `participant_erased`; 422 `invalid_request`,
    `invalid_consent` (also a malformed `request.reference`), `purpose_not_consented`,
    `written_request_required`.
    """
    request = (
        WrittenRequest(body.request.reference, body.request.received_on)
        if body.request is not None
        else None
    )
    purposes = tuple(body.purposes) if body.purposes is not None else None
    return _answer(await service.withdraw(ctx, consent_id, purposes, request), response)


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
async def get_consent(consent_id: UUID, service: Service, ctx: Context) -> ConsentModel:
    """One consent with its terms, status and the signer's details; every read is audited.

    **Who, and what they see:** the operator and the coordinator of the participant's region see
    everything; the registrar of the participant's school and the guardian who signed it (their
    child, and `guardian_id` is their account) see the passport masked. Destroyed details read
    `{"$erased": true}` and `status` is `erased`.

    **Refusals:** 403 `forbidden` (a role with no access, or a guardian of the child who did not
    sign this consent); 404 `unknown_consent` (unknown, or not the caller's), `unknown_participant`.
    """
    view = await service.consent(ctx, consent_id)
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
                "application/pdf": {},
                "image/jpeg": {},
                "image/png": {},
            },
            "description": "The document, as submitted.",
        },
        **problems(403, 404, 410),
    },
)
async def get_consent_document(consent_id: UUID, service: Service, ctx: Context) -> Response:
    """Downloads the signed document as stored (PDF, JPEG or PNG), as an attachment; every download
    is audited. It holds the guardian's passport: never cached.

    **Who:** the operator; the coordinator of the participant's region; the registrar of the
    participant's *current* school (a school the pupil left gets 404). Never a guardian.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_consent` (unknown, or not the
    caller's), `unknown_participant`; 410 `document_gone` (destroyed with the participant's
    data).
    """
    media_type, content = await service.document(ctx, consent_id)
    return Response(
        content,
        media_type=media_type,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="consent-{consent_id}"',
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

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_participant` (unknown, or not the
    caller's).
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
