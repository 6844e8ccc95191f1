"""Events of the consent service (topic `bilet.consent`): guardians' consents to the processing of
a participant's personal data (152-FZ), from upload to verification, withdrawal and erasure.

All of a participant's consent history is one stream, `consent-<participant id>`, so consumers
see it in order. Without a verified, unexpired, unwithdrawn consent a participant takes no part:
no diagnostics, no career event booking, no portfolio access.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Self
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from bilet.contracts.base import DomainEvent
from bilet.contracts.registry import JsonObject, published, upcaster
from bilet.contracts.sealed import Sealed, personal
from bilet.contracts.vocabulary import distinct

GUARDIAN_NAME: str = (
    'object {"last_name": string, "first_name": string, "patronymic": string | null}'
)
PASSPORT: str = (
    'object {"series": string, "number": string, "issued_by": string, "issued_on": ISO date}'
)
AUTHORITY: str = (
    'object {"document": string, "number": string, "issued_on": ISO date} (the act appointing a '
    "custodian or curator)"
)
CONTACT: str = 'object {"phone": string | null, "email": string | null}'


class ConsentPurpose(StrEnum):
    """What a consent allows the programme to process the participant's data for."""

    PROGRAMME_PARTICIPATION = "programme_participation"
    ONLINE_DIAGNOSTICS = "online_diagnostics"
    CAREER_EVENTS = "career_events"
    PORTFOLIO = "portfolio"
    RECOMMENDATIONS = "recommendations"
    PSEUDONYMISED_ANALYTICS = "pseudonymised_analytics"


Purposes = Annotated[
    tuple[ConsentPurpose, ...],
    Field(min_length=1, max_length=len(ConsentPurpose), json_schema_extra={"uniqueItems": True}),
    AfterValidator(distinct),
]


class Purpose(StrEnum):
    """What a consent allows, from version 2 of the consent events (season 2020 form): the
    purposes of version 1 and, separately, the processing of health data (ОВЗ, a special category
    under 152-FZ) to offer only career events that are safe and accessible for the participant."""

    PROGRAMME_PARTICIPATION = "programme_participation"
    ONLINE_DIAGNOSTICS = "online_diagnostics"
    CAREER_EVENTS = "career_events"
    PORTFOLIO = "portfolio"
    RECOMMENDATIONS = "recommendations"
    PSEUDONYMISED_ANALYTICS = "pseudonymised_analytics"
    HEALTH_DATA = "health_data"


assert {p.value for p in ConsentPurpose} <= {p.value for p in Purpose}, "v2 keeps v1's purposes"

PurposesV2 = Annotated[
    tuple[Purpose, ...],
    Field(min_length=1, max_length=len(Purpose), json_schema_extra={"uniqueItems": True}),
    AfterValidator(distinct),
]


class Relationship(StrEnum):
    """How the signer may act for the child: parent, or another legal representative."""

    PARENT = "parent"
    ADOPTIVE_PARENT = "adoptive_parent"
    CUSTODIAN = "custodian"  # опекун (a child under 14)
    CURATOR = "curator"  # попечитель (a child of 14 to 18)


class RejectionReason(StrEnum):
    """Why a consent document was not accepted; the school uploads a corrected one."""

    UNREADABLE_SCAN = "unreadable_scan"
    SIGNATURE_MISSING = "signature_missing"
    SIGNER_NOT_LEGAL_REPRESENTATIVE = "signer_not_legal_representative"
    PASSPORT_DATA_INCOMPLETE = "passport_data_incomplete"
    WRONG_PARTICIPANT = "wrong_participant"
    OUTDATED_FORM = "outdated_form"
    PURPOSES_MISSING = "purposes_missing"


class ErasureReason(StrEnum):
    """Why a participant's personal data was destroyed."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_EXPIRED = "consent_expired"
    RETENTION_ENDED = "retention_ended"
    REGISTERED_IN_ERROR = "registered_in_error"


class ConsentEvent(DomainEvent):
    service: ClassVar[str] = "consent"
    stream_category: ClassVar[str] = "consent"
    stream_key: ClassVar[str] = "participant_id"


@published
class ConsentSubmittedV1(ConsentEvent):
    """The school uploaded a consent signed by the participant's parent or legal representative.
    It is not in force until verified. The signer's identity and passport data prove who signed
    and that they may act for the child: they are sealed with the participant's key, so they are
    destroyed with the rest of the participant's data.

    Superseded by version 2 (a purpose for health data); read through the upcaster."""

    event_type: ClassVar[str] = "ConsentSubmitted"

    participant_id: UUID
    consent_id: UUID
    school_id: UUID = Field(description="The school that uploaded the document.")
    document_id: UUID = Field(description="The scanned document in the consent service's store.")
    form_version: str = Field(
        pattern=r"^[0-9]{4}-[0-9]{1,3}$", description="The consent form's version, e.g. 2019-1."
    )
    purposes: Purposes = Field(description="What the signer consented to.")
    signed_on: date
    valid_until: date
    guardian_id: UUID = Field(description="The signer as a guardian (opaque id).")
    relationship: Relationship
    guardian_full_name: Sealed = personal("The signer's ФИО.", GUARDIAN_NAME)
    guardian_passport: Sealed = personal("The signer's passport details.", PASSPORT)
    guardian_authority: Sealed | None = personal(
        "For a custodian or curator: the act of appointment.", AUTHORITY, default=None
    )

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.valid_until < self.signed_on:
            raise ValueError("the consent ends before it was signed")
        return self


@published
class ConsentVerifiedV1(ConsentEvent):
    """A verifier checked the consent document against the participant and the signer: from now
    until `valid_until` (or a withdrawal) the participant may take part, for these purposes.

    Superseded by version 2 (a purpose for health data); read through the upcaster."""

    event_type: ClassVar[str] = "ConsentVerified"

    participant_id: UUID
    consent_id: UUID
    purposes: Purposes = Field(description="What the verified consent allows.")
    valid_until: date


@published
class ConsentSubmitted(ConsentEvent):
    """The school uploaded a consent signed by the participant's parent or legal representative.
    It is not in force until verified. The signer's identity and passport data prove who signed
    and that they may act for the child: they are sealed with the participant's key, so they are
    destroyed with the rest of the participant's data.

    Version 2 states the processing of health data (`health_data`) as a purpose of its own, which
    the guardian may give or refuse apart from the rest (152-FZ, art. 10: a special category).
    Version 1 had no such purpose, so its consents never allowed it: the upcaster keeps the
    purposes as they were."""

    event_type: ClassVar[str] = "ConsentSubmitted"
    schema_version: ClassVar[int] = 2

    participant_id: UUID
    consent_id: UUID
    school_id: UUID = Field(description="The school that uploaded the document.")
    document_id: UUID = Field(description="The scanned document in the consent service's store.")
    form_version: str = Field(
        pattern=r"^[0-9]{4}-[0-9]{1,3}$", description="The consent form's version, e.g. 2019-1."
    )
    purposes: PurposesV2 = Field(description="What the signer consented to.")
    signed_on: date
    valid_until: date
    guardian_id: UUID = Field(description="The signer as a guardian (opaque id).")
    relationship: Relationship
    guardian_full_name: Sealed = personal("The signer's ФИО.", GUARDIAN_NAME)
    guardian_passport: Sealed = personal("The signer's passport details.", PASSPORT)
    guardian_authority: Sealed | None = personal(
        "For a custodian or curator: the act of appointment.", AUTHORITY, default=None
    )

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.valid_until < self.signed_on:
            raise ValueError("the consent ends before it was signed")
        return self


@upcaster("ConsentSubmitted", from_version=1)
def _consent_submitted_v1_to_v2(data: JsonObject) -> JsonObject:
    # Every purpose of version 1 is a purpose of version 2; health data was never consented to.
    return dict(data)


@published
class ConsentVerified(ConsentEvent):
    """A verifier checked the consent document against the participant and the signer: from now
    until `valid_until` (or a withdrawal) the participant may take part, for these purposes.
    A later verified consent supersedes an earlier one.

    Version 2: the purposes may include `health_data` (see `ConsentSubmitted` v2); only with it
    may a service act on the participant's health limitations or accessibility needs."""

    event_type: ClassVar[str] = "ConsentVerified"
    schema_version: ClassVar[int] = 2

    participant_id: UUID
    consent_id: UUID
    purposes: PurposesV2 = Field(description="What the verified consent allows.")
    valid_until: date


@upcaster("ConsentVerified", from_version=1)
def _consent_verified_v1_to_v2(data: JsonObject) -> JsonObject:
    # Same purposes: a version 1 consent never covered health data.
    return dict(data)


@published
class ConsentRejected(ConsentEvent):
    """A verifier did not accept the consent document; the participant still may not take part
    until a corrected one is submitted and verified."""

    event_type: ClassVar[str] = "ConsentRejected"

    participant_id: UUID
    consent_id: UUID
    reasons: Annotated[
        tuple[RejectionReason, ...],
        Field(
            min_length=1, max_length=len(RejectionReason), json_schema_extra={"uniqueItems": True}
        ),
        AfterValidator(distinct),
    ]


@published
class ConsentWithdrawn(ConsentEvent):
    """The guardian withdrew the consent. Processing stops now: no new diagnostics, bookings or
    recommendations; the participant's personal data must be destroyed by `erase_by` (30 days
    under 152-FZ), which `ParticipantErased` records."""

    event_type: ClassVar[str] = "ConsentWithdrawn"

    participant_id: UUID
    consent_id: UUID
    withdrawn_on: date
    erase_by: date

    @model_validator(mode="after")
    def _deadline(self) -> Self:
        if self.erase_by < self.withdrawn_on:
            raise ValueError("the erasure deadline is before the withdrawal")
        return self


@published
class ConsentPurposesWithdrawn(ConsentEvent):
    """The guardian withdrew the consent for some purposes only (e.g. the processing of health
    data), keeping the rest: processing for `withdrawn` stops now, the consent stays in force for
    `remaining`, which always includes programme participation (withdrawing that ends the whole
    consent: `ConsentWithdrawn`). Withdrawing `health_data` destroys the participant's health
    key at once (health data is sealed with a key of its own): their health limitations and
    accessibility needs read as erased everywhere, the rest stays (docs/adr/0017)."""

    event_type: ClassVar[str] = "ConsentPurposesWithdrawn"

    participant_id: UUID
    consent_id: UUID
    withdrawn: PurposesV2 = Field(description="The purposes whose processing stops now.")
    remaining: PurposesV2 = Field(description="The purposes the consent still allows.")
    withdrawn_on: date

    @model_validator(mode="after")
    def _split(self) -> Self:
        if set(self.withdrawn) & set(self.remaining):
            raise ValueError("a purpose is both withdrawn and remaining")
        if Purpose.PROGRAMME_PARTICIPATION not in self.remaining:
            raise ValueError("withdrawing programme participation withdraws the consent")
        return self


@published
class GuardianLinked(ConsentEvent):
    """A verified consent established a guardian of the participant: that guardian may now see
    the participant's portfolio and recommendations and is told about their career events."""

    event_type: ClassVar[str] = "GuardianLinked"

    participant_id: UUID
    guardian_id: UUID
    consent_id: UUID = Field(description="The verified consent that proves the link.")
    relationship: Relationship
    guardian_full_name: Sealed = personal("The guardian's ФИО.", GUARDIAN_NAME)
    guardian_contact: Sealed = personal("How to reach the guardian.", CONTACT)


@published
class ParticipantErased(ConsentEvent):
    """The participant's personal data was destroyed: their data key is gone, so every sealed
    field of theirs, in every copy of the history, now reads as erased. Every read model that
    holds decrypted data of theirs deletes it on this event; pseudonymous facts stay replayable.
    The destruction record (акт об уничтожении) is kept by the consent service."""

    event_type: ClassVar[str] = "ParticipantErased"

    participant_id: UUID
    reason: ErasureReason
    erased_at: AwareDatetime
    destruction_record_id: UUID
