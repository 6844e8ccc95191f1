"""A participant's consents, as one decider over the stream `consent-<participant id>`.

A consent is submitted by the school (pending), then verified or rejected by a verifier. The
latest verified consent is in force until it ends (`valid_until`) or is withdrawn; verifying a
later consent supersedes the one in force and any earlier one still pending. The guardian may
withdraw some purposes (health data) and keep the rest, or withdraw the consent as a whole: a whole
withdrawal ends every pending and verified consent of the participant, their data is destroyed by
`erase_by`, and after that nothing is accepted for them. A consent that ends (`valid_until`) with
no newer one verified has the data destroyed `erasure_days` after its last day.

Each withdrawal of health data destroys the generation of the participant's health key in force
(docs/adr/0017, 0026): the state counts them, so the one in force is one further on, and an
erasure destroys every generation up to it.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentRejected,
    ConsentSubmitted,
    ConsentVerified,
    ConsentWithdrawn,
    ErasureReason,
    GuardianLinked,
    ParticipantErased,
    Purpose,
    RejectionReason,
    Relationship,
)
from bilet.contracts.drafts import Decided, Unsealed
from bilet.contracts.sealed import FIRST_GENERATION
from bilet_consent.domain.errors import (
    AuthorityRequired,
    ConsentExists,
    ConsentExpired,
    ConsentNotInForce,
    ConsentNotPending,
    ErasureNotDue,
    ErasureScheduled,
    InvalidConsent,
    ParticipantErasedError,
    PurposeNotConsented,
    UnknownConsent,
)
from bilet_consent.domain.guardian import Guardian

CATEGORY: Final = "consent"
DESTRUCTION_NAMESPACE: Final = UUID("8b1f2c3d-4e5f-5a6b-9c7d-0e1f2a3b4c5d")
REPRESENTATIVES: Final = frozenset({Relationship.CUSTODIAN, Relationship.CURATOR})
FORM_VERSION: Final = r"^[0-9]{4}-[0-9]{1,3}$"
# Consent forms outlive a season, not a whole school career.
MAX_VALIDITY: Final = timedelta(days=366 * 3)


def stream_id(participant_id: UUID) -> str:
    return f"{CATEGORY}-{participant_id}"


def destruction_record_id(participant_id: UUID) -> UUID:
    """One participant, one destruction: two replicas erasing at once name the same record."""
    return uuid.uuid5(DESTRUCTION_NAMESPACE, f"destruction:{participant_id}")


class Status(StrEnum):
    PENDING = "pending"  # submitted, waiting for a verifier
    VERIFIED = "verified"  # in force (unless expired: see `Consent.in_force_on`)
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # a later consent was verified
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Consent:
    consent_id: UUID
    document_id: UUID
    school_id: UUID
    form_version: str
    purposes: frozenset[Purpose]  # as signed
    signed_on: date
    valid_until: date
    guardian_id: UUID
    relationship: Relationship
    status: Status = Status.PENDING
    withdrawn_purposes: frozenset[Purpose] = frozenset()
    rejection_reasons: tuple[RejectionReason, ...] = ()
    withdrawn_on: date | None = None

    @property
    def effective_purposes(self) -> frozenset[Purpose]:
        return self.purposes - self.withdrawn_purposes

    def in_force_on(self, day: date) -> bool:
        return self.status is Status.VERIFIED and day <= self.valid_until


@dataclass(frozen=True, slots=True)
class ParticipantConsents:
    participant_id: UUID
    consents: tuple[Consent, ...] = ()
    # The earliest destruction date any withdrawal set: a later one never postpones it.
    erase_by: date | None = None
    erased: bool = False
    # The consent the first whole withdrawal named (the ground in the destruction record).
    withdrawal: UUID | None = None
    # How many withdrawals of health data destroyed a generation of the health key.
    health_withdrawals: int = 0

    @property
    def health_generation(self) -> int:
        """The generation of the health key in force: what the next withdrawal of health data
        destroys, and the newest one identity may have sealed health data under."""
        return FIRST_GENERATION + self.health_withdrawals

    def find(self, consent_id: UUID) -> Consent | None:
        return next((c for c in self.consents if c.consent_id == consent_id), None)

    def current(self) -> Consent | None:
        """The verified consent (in force or expired), if any."""
        return next((c for c in reversed(self.consents) if c.status is Status.VERIFIED), None)

    def latest(self) -> Consent | None:
        return self.consents[-1] if self.consents else None

    def active(self) -> tuple[Consent, ...]:
        """What a whole withdrawal ends: the verified consent first, then those pending."""
        verified = tuple(c for c in reversed(self.consents) if c.status is Status.VERIFIED)
        pending = tuple(c for c in self.consents if c.status is Status.PENDING)
        return verified + pending

    def withdrawn_whole(self) -> Consent | None:
        """The consent whose withdrawal (the first one) scheduled the destruction."""
        if self.erase_by is None or self.withdrawal is None:
            return None
        return self.find(self.withdrawal)

    def expiry_erase_by(self, erasure_days: int) -> date | None:
        """When the data goes because the consent in force ends: `erasure_days` after the last
        day of the latest verified consent (None without one, or once a withdrawal decides)."""
        if self.erased or self.erase_by is not None:
            return None
        current = self.current()
        if current is None:
            return None
        return current.valid_until + timedelta(days=erasure_days)

    def erasure(self, erasure_days: int) -> tuple[date, ErasureReason] | None:
        """The destruction scheduled now, by a withdrawal or by the end of the consent."""
        if self.erased:
            return None
        if self.erase_by is not None:
            return self.erase_by, ErasureReason.CONSENT_WITHDRAWN
        expiry = self.expiry_erase_by(erasure_days)
        return None if expiry is None else (expiry, ErasureReason.CONSENT_EXPIRED)


# ---------------------------------------------------------------------- commands
@dataclass(frozen=True)
class SubmitConsent:
    participant_id: UUID
    consent_id: UUID
    document_id: UUID
    school_id: UUID
    form_version: str
    purposes: tuple[Purpose, ...]
    signed_on: date
    valid_until: date
    guardian_id: UUID
    relationship: Relationship
    guardian: Guardian = field(repr=False)
    today: date


@dataclass(frozen=True)
class VerifyConsent:
    consent_id: UUID
    today: date
    # The signer's name and contact, unsealed by the application from the submission: the
    # guardian link carries them (sealed again) to the services that tell guardians things.
    guardian_full_name: object = field(repr=False)
    guardian_contact: object = field(repr=False)


@dataclass(frozen=True)
class RejectConsent:
    consent_id: UUID
    reasons: tuple[RejectionReason, ...]


@dataclass(frozen=True)
class WithdrawConsent:
    consent_id: UUID
    today: date
    erasure_days: int
    # None or a set that includes programme participation: the consent as a whole.
    purposes: tuple[Purpose, ...] | None = None


@dataclass(frozen=True)
class EraseParticipant:
    now: datetime
    erasure_days: int  # after the end of a consent that was not renewed

    @property
    def today(self) -> date:
        return self.now.date()


Command = SubmitConsent | VerifyConsent | RejectConsent | WithdrawConsent | EraseParticipant
# What a consent stream holds: `evolve` has a case for each, `fold` refuses anything else.
ConsentStreamEvent = (
    ConsentSubmitted
    | ConsentVerified
    | ConsentRejected
    | ConsentPurposesWithdrawn
    | ConsentWithdrawn
    | GuardianLinked
    | ParticipantErased
)


# ---------------------------------------------------------------------- decide
def _refuse_if_closed(state: ParticipantConsents) -> None:
    if state.erased:
        raise ParticipantErasedError()
    if state.erase_by is not None:
        raise ErasureScheduled(state.erase_by.isoformat())


def _consent(state: ParticipantConsents, consent_id: UUID) -> Consent:
    found = state.find(consent_id)
    if found is None:
        raise UnknownConsent()
    return found


def _submit(command: SubmitConsent, state: ParticipantConsents) -> list[Decided]:
    _refuse_if_closed(state)
    if state.find(command.consent_id) is not None:
        raise ConsentExists()
    purposes = tuple(dict.fromkeys(command.purposes))
    if Purpose.PROGRAMME_PARTICIPATION not in purposes:
        raise InvalidConsent(
            "purposes", "A consent covers participation in the programme; other purposes add to it."
        )
    if command.signed_on > command.today:
        raise InvalidConsent("signed_on", "The consent is dated in the future.")
    if command.valid_until < command.signed_on:
        raise InvalidConsent("valid_until", "The consent ends before it was signed.")
    if command.valid_until < command.today:
        raise ConsentExpired()
    if command.valid_until - command.signed_on > MAX_VALIDITY:
        raise InvalidConsent("valid_until", "A consent is valid for at most three years.")
    guardian = command.guardian
    if command.relationship in REPRESENTATIVES and guardian.authority is None:
        raise AuthorityRequired()
    personal: dict[str, object] = {
        "guardian_full_name": guardian.name.plain(),
        "guardian_passport": guardian.passport.plain(),
    }
    if guardian.authority is not None:
        personal["guardian_authority"] = guardian.authority.plain()
    clear: dict[str, object] = {
        "participant_id": command.participant_id,
        "consent_id": command.consent_id,
        "school_id": command.school_id,
        "document_id": command.document_id,
        "form_version": command.form_version,
        "purposes": purposes,
        "signed_on": command.signed_on,
        "valid_until": command.valid_until,
        "guardian_id": command.guardian_id,
        "relationship": command.relationship,
    }
    if guardian.authority is None:
        clear["guardian_authority"] = None
    return [Unsealed(ConsentSubmitted, clear, personal)]


def _verify(command: VerifyConsent, state: ParticipantConsents) -> list[Decided]:
    _refuse_if_closed(state)
    consent = _consent(state, command.consent_id)
    if consent.status is not Status.PENDING:
        raise ConsentNotPending(consent.status.value)
    if consent.valid_until < command.today:
        raise ConsentExpired()
    # What the guardian still allows: purposes withdrawn while it was pending stay withdrawn.
    ordered = tuple(p for p in Purpose if p in consent.effective_purposes)
    return [
        ConsentVerified(
            participant_id=state.participant_id,
            consent_id=consent.consent_id,
            purposes=ordered,
            valid_until=consent.valid_until,
        ),
        Unsealed(
            GuardianLinked,
            {
                "participant_id": state.participant_id,
                "guardian_id": consent.guardian_id,
                "consent_id": consent.consent_id,
                "relationship": consent.relationship,
            },
            {
                "guardian_full_name": command.guardian_full_name,
                "guardian_contact": command.guardian_contact,
            },
        ),
    ]


def _reject(command: RejectConsent, state: ParticipantConsents) -> list[Decided]:
    _refuse_if_closed(state)
    consent = _consent(state, command.consent_id)
    if consent.status is not Status.PENDING:
        raise ConsentNotPending(consent.status.value)
    if not command.reasons:
        raise InvalidConsent("reasons", "Say why, so the school can act on it.")
    return [
        ConsentRejected(
            participant_id=state.participant_id,
            consent_id=consent.consent_id,
            reasons=tuple(dict.fromkeys(command.reasons)),
        )
    ]


def _withdraw(command: WithdrawConsent, state: ParticipantConsents) -> list[Decided]:
    # Once a destruction is scheduled nothing may move it: a second withdrawal is refused.
    _refuse_if_closed(state)
    consent = _consent(state, command.consent_id)
    if consent.status not in (Status.PENDING, Status.VERIFIED):
        raise ConsentNotInForce(consent.status.value)
    whole = command.purposes is None or Purpose.PROGRAMME_PARTICIPATION in command.purposes
    if whole:
        erase_by = command.today + timedelta(days=command.erasure_days)
        expiry = state.expiry_erase_by(command.erasure_days)
        if expiry is not None and expiry < erase_by:
            # The consent had already ended: withdrawing it does not put its destruction off.
            erase_by = max(expiry, command.today)
        # The participant withdraws, not one form: every consent that could still open
        # processing ends with the same destruction date, the one in force first.
        return [
            ConsentWithdrawn(
                participant_id=state.participant_id,
                consent_id=active.consent_id,
                withdrawn_on=command.today,
                erase_by=erase_by,
            )
            for active in state.active()
        ]
    assert command.purposes is not None
    withdrawn = frozenset(command.purposes)
    if not withdrawn:
        raise InvalidConsent("purposes", "Name the purposes to withdraw, or withdraw it all.")
    if missing := withdrawn - consent.effective_purposes:
        raise PurposeNotConsented(sorted(p.value for p in missing))
    remaining = consent.effective_purposes - withdrawn
    return [
        ConsentPurposesWithdrawn(
            participant_id=state.participant_id,
            consent_id=consent.consent_id,
            withdrawn=tuple(p for p in Purpose if p in withdrawn),
            remaining=tuple(p for p in Purpose if p in remaining),
            withdrawn_on=command.today,
        )
    ]


def _erase(command: EraseParticipant, state: ParticipantConsents) -> list[Decided]:
    if state.erased:
        return []  # already done: running the job again changes nothing
    scheduled = state.erasure(command.erasure_days)
    if scheduled is None or command.today < scheduled[0]:
        raise ErasureNotDue()
    return [
        ParticipantErased(
            participant_id=state.participant_id,
            reason=scheduled[1],
            erased_at=command.now,
            destruction_record_id=destruction_record_id(state.participant_id),
        )
    ]


def decide(command: Command, state: ParticipantConsents) -> list[Decided]:
    match command:
        case SubmitConsent():
            return _submit(command, state)
        case VerifyConsent():
            return _verify(command, state)
        case RejectConsent():
            return _reject(command, state)
        case WithdrawConsent():
            return _withdraw(command, state)
        case EraseParticipant():
            return _erase(command, state)
        case _:
            assert_never(command)


# ---------------------------------------------------------------------- evolve
def _update(state: ParticipantConsents, consent_id: UUID, **changes: object) -> ParticipantConsents:
    consents = tuple(
        replace(c, **changes) if c.consent_id == consent_id else c  # type: ignore[arg-type]
        for c in state.consents
    )
    return replace(state, consents=consents)


def evolve(state: ParticipantConsents, event: ConsentStreamEvent) -> ParticipantConsents:
    match event:
        case ConsentSubmitted():
            consent = Consent(
                consent_id=event.consent_id,
                document_id=event.document_id,
                school_id=event.school_id,
                form_version=event.form_version,
                purposes=frozenset(event.purposes),
                signed_on=event.signed_on,
                valid_until=event.valid_until,
                guardian_id=event.guardian_id,
                relationship=event.relationship,
            )
            return replace(state, consents=(*state.consents, consent))
        case ConsentVerified():
            position = next(
                i for i, c in enumerate(state.consents) if c.consent_id == event.consent_id
            )
            # The published period is the one in force (the read model's schedule reads it too).
            consents = tuple(
                replace(c, status=Status.VERIFIED, valid_until=event.valid_until)
                if i == position
                else replace(c, status=Status.SUPERSEDED)
                if i < position and c.status in (Status.PENDING, Status.VERIFIED)
                else c
                for i, c in enumerate(state.consents)
            )
            return replace(state, consents=consents)
        case ConsentRejected():
            return _update(
                state, event.consent_id, status=Status.REJECTED, rejection_reasons=event.reasons
            )
        case ConsentPurposesWithdrawn():
            before = state.find(event.consent_id)
            assert before is not None
            changed = _update(
                state,
                event.consent_id,
                withdrawn_purposes=before.withdrawn_purposes | frozenset(event.withdrawn),
            )
            if Purpose.HEALTH_DATA not in event.withdrawn:
                return changed
            return replace(changed, health_withdrawals=state.health_withdrawals + 1)
        case ConsentWithdrawn():
            changed = _update(
                state, event.consent_id, status=Status.WITHDRAWN, withdrawn_on=event.withdrawn_on
            )
            # The earliest date wins, and the first withdrawal stays the ground: a replay, a
            # duplicate or a later withdrawal never postpones the destruction.
            erase_by = (
                event.erase_by if state.erase_by is None else min(state.erase_by, event.erase_by)
            )
            return replace(
                changed, erase_by=erase_by, withdrawal=state.withdrawal or event.consent_id
            )
        case ParticipantErased():
            return replace(state, erased=True)
        case GuardianLinked():
            return state  # told to other services: nothing a decision here depends on
        case _:
            assert_never(event)


def initial(participant_id: UUID) -> ParticipantConsents:
    return ParticipantConsents(participant_id)


def fold(participant_id: UUID, events: Sequence[DomainEvent]) -> ParticipantConsents:
    """The state after `events`, the consent stream as the store returns it (upcast)."""
    state = initial(participant_id)
    for event in events:
        if not isinstance(event, ConsentStreamEvent):
            # A stream this decider does not know all of would be folded wrong, so say so.
            raise TypeError(f"{event.event_type} is not an event of a consent stream")
        state = evolve(state, event)
    return state
