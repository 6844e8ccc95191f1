"""Request and response bodies of the consent API. Requests forbid unknown fields; the guardian's
details are checked by the domain (`bilet_consent.domain.guardian`). Fields holding the guardian's
plaintext are `repr=False`: a model's repr ends up in logs and tracebacks."""

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bilet.contracts.catalogue.consent import Purpose, RejectionReason, Relationship
from bilet_consent.application.lists import ConsentListStatus, ParticipantState
from bilet_consent.domain.reference import (
    REQUEST_REFERENCE_MAX_LENGTH,
    REQUEST_REFERENCE_PATTERN,
)

Text = Annotated[str, Field(min_length=1, max_length=300)]
NamePart = Annotated[str, Field(min_length=1, max_length=60, repr=False)]
# Personal plaintext: checked like `Text`, never shown in a repr.
PersonalText = Annotated[str, Field(min_length=1, max_length=300, repr=False)]
Position = Annotated[
    int,
    Field(
        description="The store position of the command's commit: the read-your-writes token "
        "(also in the `BVB-Position` header)."
    ),
]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PassportModel(Request):
    series: Annotated[str, Field(max_length=5, examples=["4009"], repr=False)]
    number: Annotated[str, Field(max_length=6, examples=["123456"], repr=False)]
    issued_by: PersonalText
    issued_on: date = Field(repr=False)


class AuthorityModel(Request):
    """The act appointing a custodian or curator (распоряжение органа опеки)."""

    document: PersonalText
    number: Annotated[str, Field(min_length=1, max_length=50, repr=False)]
    issued_on: date = Field(repr=False)


class GuardianModel(Request):
    last_name: NamePart
    first_name: NamePart
    patronymic: Annotated[str, Field(max_length=60)] | None = Field(default=None, repr=False)
    relationship: Relationship
    passport: PassportModel = Field(repr=False)
    authority: AuthorityModel | None = Field(default=None, repr=False)
    phone: Annotated[str, Field(max_length=20)] | None = Field(default=None, repr=False)
    email: Annotated[str, Field(max_length=254)] | None = Field(default=None, repr=False)
    guardian_id: UUID | None = Field(
        default=None,
        description="The signer's reference: the guardian's account id when the school knows "
        "it, else one is made. It names the signer in `GuardianLinked` and is NOT an access "
        "grant: a guardian sees their children's consents (and signed ones' details) only "
        "through the identity provider's `children` claim in their token.",
    )


class SubmitConsentForm(Request):
    """The `consent` field of the multipart submission (JSON); the `document` field is the signed
    form itself (PDF, JPEG or PNG)."""

    participant_id: UUID
    form_version: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{1,3}$", examples=["2019-1"])]
    purposes: Annotated[list[Purpose], Field(min_length=1, max_length=len(Purpose))]
    signed_on: date
    valid_until: date
    guardian: GuardianModel = Field(repr=False)


class RejectConsentRequest(Request):
    reasons: Annotated[list[RejectionReason], Field(min_length=1, max_length=len(RejectionReason))]


class WrittenRequestModel(Request):
    reference: str = Field(
        examples=["№ 15/2026", "ВХ-1234"],
        description="The request's registration number at the school: capital letters and "
        "digits in up to 4 groups joined by `-` or `/`, after an optional `№`; at most 8 digits "
        "and 3 letters, and no digits that read as a date (day, month and year, with or without "
        "separators). It stays in the clear after the destruction (the ground of the "
        "withdrawal), so it must not be able to hold a name, a СНИЛС or a birth date. Refused "
        "with 422 `invalid_consent`, `field` = `request.reference`.",
        # Checked by the domain (`bilet_consent.domain.reference`), which refuses with the one
        # code above; pydantic's own check would answer `invalid_request` for some of it.
        json_schema_extra={
            "minLength": 1,
            "maxLength": REQUEST_REFERENCE_MAX_LENGTH,
            "pattern": REQUEST_REFERENCE_PATTERN,
        },
    )
    received_on: date = Field(description="When the school received it: not in the future.")


class WithdrawConsentRequest(Request):
    purposes: Annotated[list[Purpose], Field(min_length=1, max_length=len(Purpose))] | None = Field(
        default=None,
        description="Only these purposes (e.g. `health_data`); absent, or with "
        "`programme_participation`: the whole consent, and the data is destroyed.",
    )
    request: WrittenRequestModel | None = Field(
        default=None, description="Required when the school withdraws: the guardian's request."
    )


class ConsentCommandResponse(BaseModel):
    """What a command answers: the consent it concerned, and the version to send as `If-Match`
    next time."""

    consent_id: UUID = Field(description="The consent (the resource) the command concerned.")
    participant_id: UUID
    version: int | None = Field(
        description="The version of the participant's consents after the command (also the "
        "`ETag`, as `GET /consents/{id}` then gives it): send it as `If-Match`."
    )
    position: Position


class ConsentSubmittedResponse(ConsentCommandResponse):
    document_id: UUID
    status: str = "pending"


class ConsentModel(BaseModel):
    consent_id: UUID
    participant_id: UUID
    status: str
    school_id: UUID
    form_version: str
    purposes: list[Purpose] = Field(description="As signed.")
    effective_purposes: list[Purpose] = Field(description="As signed, less those withdrawn.")
    signed_on: date
    valid_until: date
    relationship: Relationship
    guardian_id: UUID = Field(
        description="The signer's reference, as the school entered it: not an access grant."
    )
    guardian: dict[str, Any] = Field(
        repr=False,
        description="The signer's name, passport (masked except for verifiers) and authority; "
        '`{"$erased": true}` once destroyed.',
    )
    rejection_reasons: list[RejectionReason]
    withdrawn_on: date | None
    erase_by: date | None = Field(
        description="When the participant's data is destroyed: after a withdrawal, or after the "
        "consent in force ended without a newer one."
    )
    erased: bool
    version: int
    position: int


class ConsentStatusModel(BaseModel):
    participant_id: UUID
    state: str = Field(
        description="none, pending, verified, expired, rejected, withdrawn or erased."
    )
    consent_id: UUID | None
    purposes: list[Purpose] = Field(description="What processing is allowed now.")
    valid_until: date | None
    erase_by: date | None = Field(
        description="When the participant's data is destroyed (withdrawn, or expired and not "
        "renewed)."
    )
    pending_consents: int
    position: int


class QueuedConsentModel(BaseModel):
    """A consent in the verification queue: ids, school, submission time, status; no personal
    data (open the consent for the signer's details, its document for the scan)."""

    model_config = ConfigDict(from_attributes=True)

    consent_id: UUID
    participant_id: UUID
    school_id: UUID | None = Field(description="The participant's school now.")
    region_id: UUID | None = Field(description="The participant's region now.")
    submitted_by: UUID = Field(description="The school that uploaded it.")
    submitted_at: datetime = Field(description="When it was submitted (UTC): the queue's order.")
    status: ConsentListStatus
    rejection_reasons: list[RejectionReason] = Field(
        description="Why it was rejected (empty unless `rejected`): what the school must correct."
    )
    resubmitted: bool = Field(
        description="A later consent of the participant was submitted since (for a rejected "
        "one: the school has acted on it)."
    )


class ConsentQueuePage(BaseModel):
    items: list[QueuedConsentModel]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page (with the same filters); null: the last."
    )


class ParticipantStateModel(BaseModel):
    """A participant's consent state, as `GET /participants/{id}/status` tells it."""

    model_config = ConfigDict(from_attributes=True)

    participant_id: UUID
    school_id: UUID | None
    state: ParticipantState
    consent_id: UUID | None = Field(description="The consent the state speaks of.")
    purposes: list[Purpose] = Field(description="What processing is allowed now (verified).")
    valid_until: date | None
    erase_by: date | None
    pending_consents: int


class ParticipantStatePage(BaseModel):
    items: list[ParticipantStateModel]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page (with the same filters); null: the last."
    )
