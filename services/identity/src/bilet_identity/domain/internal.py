"""Events that stay inside the identity service: never relayed, never published.

They live in their own stream categories (`INTERNAL_CATEGORIES`), so a relay or a projection
tells them apart by the stream id alone: `reservation-<keyed hash>` (one child, one profile),
`profile-<participant id>` (what identity keeps about a participant beyond the published events)
and `secret-pseudonym-key` (the pseudonym key, wrapped by the key store).
They are registered in their own registry, `INTERNAL_EVENTS`, not in the published catalogue.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Final
from uuid import UUID

from pydantic import Field

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import Relationship
from bilet.contracts.registry import EventRegistry
from bilet.contracts.sealed import Sealed, personal

RESERVATION_CATEGORY: Final = "reservation"
PROFILE_CATEGORY: Final = "profile"
AUDIT_CATEGORY: Final = "audit"  # bilet.audit's trail, in the same store
SECRET_CATEGORY: Final = "secret"  # noqa: S105 - a stream category: the wrapped pseudonym key
GRANT_CATEGORY: Final = "grant"  # an account's grants (docs/adr/0052)
# Pupils' and guardians' accounts (docs/adr/0053): a binding code under its keyed hash, and an
# account (under the keyed hash of its subject) with the participant and children bound to it.
BINDING_CODE_CATEGORY: Final = "bindingcode"
ACCOUNT_CATEGORY: Final = "account"
# Categories a relay must not publish: everything of identity's store outside them is published.
INTERNAL_CATEGORIES: Final = frozenset(
    {
        RESERVATION_CATEGORY,
        PROFILE_CATEGORY,
        AUDIT_CATEGORY,
        SECRET_CATEGORY,
        GRANT_CATEGORY,
        BINDING_CODE_CATEGORY,
        ACCOUNT_CATEGORY,
    }
)
# What is purged from the store once a participant is erased (docs/adr/0016): the audit trail
# stays, the published streams stay (their personal fields die with the key).
PURGEABLE_CATEGORIES: Final = frozenset({RESERVATION_CATEGORY, PROFILE_CATEGORY})

INTERNAL_EVENTS: Final = EventRegistry()

# A keyed hash (HMAC-SHA256, hex): never the bare СНИЛС, name or birth date.
KeyedHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Internal(DomainEvent):
    service: ClassVar[str] = "identity"


class _Reservation(_Internal):
    stream_category: ClassVar[str] = RESERVATION_CATEGORY
    stream_key: ClassVar[str] = "reservation_key"


@INTERNAL_EVENTS.register
class ChildReserved(_Reservation):
    """A participant holds the reservation of one child's СНИЛС (its keyed hash). `person_key` is
    the keyed hash of the child's name and birth date, to tell the same child from a clash. A
    later `ChildReserved` of the same holder replaces the person key (a corrected name)."""

    event_type: ClassVar[str] = "ChildReserved"

    reservation_key: KeyedHash
    participant_id: UUID
    person_key: KeyedHash


@INTERNAL_EVENTS.register
class ReservationReleased(_Reservation):
    """The holder let the reservation go (their СНИЛС was corrected to another one)."""

    event_type: ClassVar[str] = "ReservationReleased"

    reservation_key: KeyedHash
    participant_id: UUID


@INTERNAL_EVENTS.register
class DuplicateReviewRequested(_Reservation):
    """A school tried to register this СНИЛС for a child with another name or birth date: a
    person must look at both (a typing error, or someone else's number)."""

    event_type: ClassVar[str] = "DuplicateReviewRequested"

    reservation_key: KeyedHash
    participant_id: UUID = Field(description="The holder of the reservation.")
    requested_by_school_id: UUID
    person_key: KeyedHash = Field(description="Keyed hash of the name and birth date tried.")
    claimed_reservation_key: KeyedHash | None = Field(
        default=None,
        description="Keyed hash of the СНИЛС tried, where it is not this one (the same name and "
        "birth date under another СНИЛС, docs/adr/0041); null for a clash of this СНИЛС, and in "
        "requests recorded before docs/adr/0043.",
    )


class ReviewOutcome(StrEnum):
    SAME_CHILD = "same_child"
    DIFFERENT_CHILDREN = "different_children"


@INTERNAL_EVENTS.register
class DuplicateReviewResolved(_Reservation):
    """The federal operator resolved the `ordinal`-th review request of this reservation
    (docs/adr/0043): the same child (a second profile, if there was one, merged into the holder)
    or two different children (the pair tried is never flagged again)."""

    event_type: ClassVar[str] = "DuplicateReviewResolved"

    reservation_key: KeyedHash
    ordinal: int = Field(ge=0)
    outcome: ReviewOutcome
    merged_participant_id: UUID | None = None


class _Profile(_Internal):
    stream_category: ClassVar[str] = PROFILE_CATEGORY
    stream_key: ClassVar[str] = "participant_id"


@INTERNAL_EVENTS.register
class ProfileRecorded(_Profile):
    """What the school stated at registration beyond the published event: where the pupil lives,
    their citizenship, whether they are home-schooled, and which reservation is theirs."""

    event_type: ClassVar[str] = "ProfileRecorded"

    participant_id: UUID
    reservation_key: KeyedHash
    residence_region_id: UUID
    citizenship: Sealed = personal("Citizenship.", 'string, ISO 3166 alpha-2, e.g. "RU"')
    home_schooled: Sealed = personal("Home-schooled (семейное обучение).", "boolean")


@INTERNAL_EVENTS.register
class SurnameIndexed(_Profile):
    """The blind index of the participant's surname: a keyed hash of each of its folded prefixes
    (docs/adr/0041), so that their school finds them by the first letters of their surname
    without any plaintext kept for it. A later one replaces it (a corrected surname)."""

    event_type: ClassVar[str] = "SurnameIndexed"

    participant_id: UUID
    prefix_keys: list[KeyedHash] = Field(min_length=1, max_length=100)


@INTERNAL_EVENTS.register
class ClassLetterRecorded(_Profile):
    """The letter of the pupil's class at their school (7«Б»: Б), or none any more (null: the
    school removed it, or the pupil moved to another school)."""

    event_type: ClassVar[str] = "ClassLetterRecorded"

    participant_id: UUID
    class_letter: str | None = Field(pattern=r"^[А-ЯЁ]$")


@INTERNAL_EVENTS.register
class ReservationKeyChanged(_Profile):
    """The participant's СНИЛС was corrected: this reservation is theirs now."""

    event_type: ClassVar[str] = "ReservationKeyChanged"

    participant_id: UUID
    reservation_key: KeyedHash


@INTERNAL_EVENTS.register
class GuardianAccountLinked(_Profile):
    """The school linked a guardian's account to the participant: the identity provider puts the
    participant into that account's `children` claim, which other services authorise by."""

    event_type: ClassVar[str] = "GuardianAccountLinked"

    participant_id: UUID
    guardian_id: UUID
    relationship: Relationship


@INTERNAL_EVENTS.register
class GuardianAccountUnlinked(_Profile):
    """The school removed a guardian's account from the participant (docs/adr/0050): the
    identity provider drops the participant from that account's `children` claim."""

    event_type: ClassVar[str] = "GuardianAccountUnlinked"

    participant_id: UUID
    guardian_id: UUID


@INTERNAL_EVENTS.register
class PseudonymKeyKept(_Internal):
    """The secret of identity's keyed hashes, encrypted under the key store's key of a reserved
    subject (`bilet_identity.adapters.pseudonym_key`): the store holds only the ciphertext."""

    event_type: ClassVar[str] = "PseudonymKeyKept"
    stream_category: ClassVar[str] = SECRET_CATEGORY
    stream_key: ClassVar[str] = "name"

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")
    key_subject: str = Field(
        pattern=r"^bilet\.identity\.pseudonym-key/[0-9a-f]{32}$",
        description="The key store's subject whose data key wraps it (never a participant).",
    )
    sealed_key: dict[str, str] = Field(description="A FieldCipher envelope of the key (base64).")


class BindingPurpose(StrEnum):
    """What redeeming a binding code makes of the account (docs/adr/0053)."""

    PUPIL = "pupil"  # the account is the participant's own
    GUARDIAN = "guardian"  # the account signed the participant's consent


class _BindingCode(_Internal):
    stream_category: ClassVar[str] = BINDING_CODE_CATEGORY
    stream_key: ClassVar[str] = "code_key"


@INTERNAL_EVENTS.register
class BindingCodeIssued(_BindingCode):
    """A one-time code was issued (only its keyed hash is kept): whoever redeems it before
    `expires_at` binds their account to the participant, as the pupil or, for a guardian's code,
    as the signer of the consent `consent_id`."""

    event_type: ClassVar[str] = "BindingCodeIssued"

    code_key: KeyedHash
    purpose: BindingPurpose
    participant_id: UUID
    consent_id: UUID | None = Field(description="The consent a guardian's code belongs to.")
    expires_at: datetime


@INTERNAL_EVENTS.register
class BindingCodeRedeemed(_BindingCode):
    """The code was used, by the account `account_key`: it binds nothing ever again."""

    event_type: ClassVar[str] = "BindingCodeRedeemed"

    code_key: KeyedHash
    account_key: KeyedHash


@INTERNAL_EVENTS.register
class BindingCodeCancelled(_BindingCode):
    """A newer class list replaced this unused pupil's code: it binds nothing ever again."""

    event_type: ClassVar[str] = "BindingCodeCancelled"

    code_key: KeyedHash


class _Account(_Internal):
    stream_category: ClassVar[str] = ACCOUNT_CATEGORY
    stream_key: ClassVar[str] = "account_key"


@INTERNAL_EVENTS.register
class PupilAccountBound(_Account):
    """The account (the keyed hash of the identity provider's subject) is the participant's own."""

    event_type: ClassVar[str] = "PupilAccountBound"

    account_key: KeyedHash
    participant_id: UUID


@INTERNAL_EVENTS.register
class PupilAccountUnbound(_Account):
    """The account is no longer the participant's (a lost account, unbound by the operator or
    the pupil's school registrar): its next token names nobody, and the pupil binds a new
    account with a new code."""

    event_type: ClassVar[str] = "PupilAccountUnbound"

    account_key: KeyedHash
    participant_id: UUID


@INTERNAL_EVENTS.register
class GuardianAccountBound(_Account):
    """The account proved it holds the code of the consent `consent_id` of the participant: it
    acts for the child while that consent is verified and in force. A later one for the same
    child replaces the consent."""

    event_type: ClassVar[str] = "GuardianAccountBound"

    account_key: KeyedHash
    participant_id: UUID
    consent_id: UUID


class GrantedRole(StrEnum):
    """The roles a grant gives (the values of the tokens' `role` claim)."""

    COORDINATOR = "coordinator"
    REGISTRAR = "registrar"
    NAVIGATOR = "navigator"
    ORGANISER = "organiser"
    MENTOR = "mentor"


class _Grant(_Internal):
    stream_category: ClassVar[str] = GRANT_CATEGORY
    stream_key: ClassVar[str] = "account_id"
    subject_key: ClassVar[str] = "account_id"  # no sealed fields: nothing to shred


AccountSubject = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]


@INTERNAL_EVENTS.register
class GrantIssued(_Grant):
    """An account may act in `role` for a scope from `starts_at` until `ends_at` (open-ended when
    null) or its revocation (docs/adr/0052). The scope is the role's: a region (coordinator), a
    school and its region (registrar, navigator), a venue and the region it was granted in
    (organiser), a venue's career event or all of its career events (mentor). `account_id` is
    derived from the opaque account id (`account`, the tokens' `sub`), never a name."""

    event_type: ClassVar[str] = "GrantIssued"

    account_id: UUID
    grant_id: UUID
    account: AccountSubject
    role: GrantedRole
    region_id: UUID | None = None
    school_id: UUID | None = None
    venue_id: UUID | None = None
    career_event_id: UUID | None = None
    starts_at: datetime
    ends_at: datetime | None = None
    granted_by: AccountSubject
    granted_by_role: str = Field(pattern=r"^[a-z_]{1,40}$")


@INTERNAL_EVENTS.register
class GrantRevoked(_Grant):
    """The grant ends now: the account's next token no longer carries it."""

    event_type: ClassVar[str] = "GrantRevoked"

    account_id: UUID
    grant_id: UUID
    revoked_at: datetime
    revoked_by: AccountSubject
    revoked_by_role: str = Field(pattern=r"^[a-z_]{1,40}$")


INTERNAL_EVENTS.check()
