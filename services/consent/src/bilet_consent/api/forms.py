"""The consent form as the school sends it (the multipart `consent` part, JSON): read, checked
and turned into the use case's input; the guardian's details are checked by the domain."""

from pydantic import ValidationError

from bilet.http.guard import has_hostile_text
from bilet.http.problems import Problem
from bilet_consent.api import multipart
from bilet_consent.api.models import SubmitConsentForm
from bilet_consent.application.inputs import SubmissionInput
from bilet_consent.application.service import ConsentService
from bilet_consent.domain.guardian import Authority, Contact, Guardian, GuardianName, Passport


def read_form(parts: dict[str, multipart.Part]) -> tuple[SubmitConsentForm, bytes]:
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


def submission_of(form: SubmitConsentForm, service: ConsentService) -> SubmissionInput:
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
