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


_SUBMIT_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["consent", "document"],
                    "properties": {
                        "consent": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "The form's fields as JSON: SubmitConsentForm.",
                        },
                        "document": {
                            "type": "string",
                            "format": "binary",
                            "description": "The signed form: PDF, JPEG or PNG, by content.",
                        },
                    },
                },
                "encoding": {"consent": {"contentType": "application/json"}},
            }
        },
    }
}


@router.post(
    "/consents",
    name="submit_consent",
    tags=["consents"],
    summary="The school submits a guardian's signed consent (multipart: `consent` + `document`)",
    status_code=201,
    responses=problems(403, 404, 409, 410, 415, 503),
    openapi_extra=_SUBMIT_BODY,
)
async def submit_consent(
    request: Request, response: Response, service: Service, ctx: Context
) -> ConsentSubmittedResponse:
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
