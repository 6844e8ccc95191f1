"""Events that stay inside the consent service: never relayed, never published.

They live in their own stream categories (`INTERNAL_CATEGORIES`) and their own registry:
- `consentref-<consent id>`: which participant a consent id belongs to (appended with the
  submission, expecting no stream: a consent id is used once, suite-wide);
- `consentfile-<participant id>`: what the service keeps beyond the published events (the stored
  document's type and size, the guardian's contact, a guardian's written request of withdrawal);
- `destruction-<record id>`: the destruction record (акт об уничтожении) the regulator asks for.
"""

from datetime import date
from typing import Annotated, ClassVar, Final
from uuid import UUID

from pydantic import AwareDatetime, Field

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import ErasureReason
from bilet.contracts.registry import EventRegistry
from bilet.contracts.sealed import Sealed, personal

REF_CATEGORY: Final = "consentref"
FILE_CATEGORY: Final = "consentfile"
DESTRUCTION_CATEGORY: Final = "destruction"
AUDIT_CATEGORY: Final = "audit"  # bilet.audit's trail, in the same store
INTERNAL_CATEGORIES: Final = frozenset(
    {REF_CATEGORY, FILE_CATEGORY, DESTRUCTION_CATEGORY, AUDIT_CATEGORY}
)

INTERNAL_EVENTS: Final = EventRegistry()
# The operator of the participants' personal data (DOMAIN.md): destruction records name it unless
# the settings say otherwise (`BVB_CONSENT_OPERATOR`).
FEDERAL_OPERATOR: Final = "Союз «Молодые профессионалы (Ворлдскиллс Россия)»"

MediaType = Annotated[str, Field(pattern=r"^(application/pdf|image/jpeg|image/png)$")]
# A registration number (checked by `reference.request_reference_problem`: 20 characters from now
# on; requests recorded earlier allowed 50).
Reference = Annotated[str, Field(min_length=1, max_length=50)]
CONTACT: Final = 'object {"phone": string | null, "email": string | null}'


class _Internal(DomainEvent):
    service: ClassVar[str] = "consent"


@INTERNAL_EVENTS.register
class ConsentRegistered(_Internal):
    """The consent id is taken, by this participant's consent."""

    event_type: ClassVar[str] = "ConsentRegistered"
    stream_category: ClassVar[str] = REF_CATEGORY
    stream_key: ClassVar[str] = "consent_id"

    consent_id: UUID
    participant_id: UUID


class _File(_Internal):
    stream_category: ClassVar[str] = FILE_CATEGORY
    stream_key: ClassVar[str] = "participant_id"


@INTERNAL_EVENTS.register
class DocumentStored(_File):
    """The signed document of a consent was stored, encrypted with the participant's key. Its
    checksum stays in the document store, with the document, and goes with it."""

    event_type: ClassVar[str] = "DocumentStored"

    participant_id: UUID
    consent_id: UUID
    document_id: UUID
    media_type: MediaType
    size_bytes: int = Field(ge=1)


@INTERNAL_EVENTS.register
class GuardianContactRecorded(_File):
    """How to reach the signer, as the consent form states it (told to the guardian's link)."""

    event_type: ClassVar[str] = "GuardianContactRecorded"

    participant_id: UUID
    consent_id: UUID
    guardian_contact: Sealed = personal("How to reach the guardian.", CONTACT)


@INTERNAL_EVENTS.register
class WrittenRequestRecorded(_File):
    """The school withdrew a consent on the guardian's written request (заявление): its
    registration number and date at the school, the ground of the withdrawal."""

    event_type: ClassVar[str] = "WrittenRequestRecorded"

    participant_id: UUID
    consent_id: UUID
    school_id: UUID
    reference: Reference
    received_on: date


@INTERNAL_EVENTS.register
class DestructionRecorded(_Internal):
    """The destruction record (акт об уничтожении персональных данных): whose data (the opaque
    participant id only), what was destroyed, how, when, on what ground, and who ran it. It holds
    nothing the destruction removed."""

    event_type: ClassVar[str] = "DestructionRecorded"
    stream_category: ClassVar[str] = DESTRUCTION_CATEGORY
    stream_key: ClassVar[str] = "record_id"

    record_id: UUID
    participant_id: UUID
    categories: tuple[str, ...] = Field(min_length=1, description="What was destroyed.")
    methods: tuple[str, ...] = Field(min_length=1, description="How it was destroyed.")
    destroyed_at: AwareDatetime
    reason: ErasureReason
    consent_id: UUID = Field(
        description="The ground: the consent that was withdrawn, or that ended (expiry)."
    )
    withdrawn_on: date | None = Field(default=None, description="A withdrawal: on this day.")
    valid_until: date | None = Field(
        default=None, description="An expiry: the consent's last day (none newer was verified)."
    )
    documents_deleted: int = Field(ge=0)
    performed_by: str = Field(min_length=1, max_length=100, description="Who ran it.")
    # Records written before these fields read with their defaults.
    destroyed_from: tuple[str, ...] = Field(
        default=(), description="The information systems the data was destroyed from."
    )
    operator: str = Field(
        default="", max_length=200, description="The operator of the personal data."
    )


INTERNAL_EVENTS.check()
