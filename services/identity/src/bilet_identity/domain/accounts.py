"""Pupils' and guardians' accounts (docs/adr/0053): two deciders and the rule of entitlement.

- A **binding code** (stream `bindingcode-<keyed hash of the code>`): issued for one participant,
  as a pupil's code (handed out by their school) or a guardian's code (given with the consent
  they signed); redeemed once, before it expires and unless a newer class list cancelled it, by
  one account.
- An **account** (stream `account-<keyed hash of the subject>`): the participant it is (a pupil's
  own account, until it is unbound: a lost account) and the children it signed consents for (a
  guardian's).
- A guardian is **entitled** to a child only while the consent their code belongs to is the
  verified consent in force: a pending, rejected, withdrawn, expired or erased one entitles
  nobody (`guardian_entitled`).

Codes and subjects appear only as keyed hashes: the store never holds a usable code.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, assert_never
from uuid import UUID

from bilet_identity.domain.errors import DomainError
from bilet_identity.domain.internal import (
    BindingCodeCancelled,
    BindingCodeIssued,
    BindingCodeRedeemed,
    BindingPurpose,
    GuardianAccountBound,
    PupilAccountBound,
    PupilAccountUnbound,
)


class InvalidBindingCode(DomainError):
    """No such code (mistyped, or guessed)."""

    code = "invalid_binding_code"

    def __init__(self) -> None:
        super().__init__("This code is not valid: check it, or ask for a new one.")


class BindingCodeExpired(DomainError):
    code = "binding_code_expired"

    def __init__(self) -> None:
        super().__init__("This code has expired: ask for a new one.")


class BindingCodeUsed(DomainError):
    code = "binding_code_used"

    def __init__(self) -> None:
        super().__init__("This code was already used: each code binds one account, once.")


class BindingCodeReplaced(DomainError):
    code = "binding_code_replaced"

    def __init__(self) -> None:
        super().__init__("A newer code was issued for this pupil: use the newest list's code.")


class BindingCodeTaken(DomainError):
    """A freshly drawn code collides with an issued one (never in practice: 60 random bits); the
    application draws another."""

    code = "binding_code_taken"

    def __init__(self) -> None:
        super().__init__("This code is already issued.")


class GuardianCodeNeedsConsent(DomainError):
    """A guardian's code belongs to one consent; a pupil's to none."""

    code = "guardian_code_needs_consent"

    def __init__(self) -> None:
        super().__init__("A guardian's code names its consent, and only a guardian's code does.")


class AccountAlreadyBound(DomainError):
    code = "account_already_bound"

    def __init__(self) -> None:
        super().__init__("This account is already bound to another participant.")


class AccountNotBound(DomainError):
    """Unbinding a pupil from an account that is not theirs (or no longer)."""

    code = "no_bound_account"

    def __init__(self) -> None:
        super().__init__("No account is bound to this pupil.")


class WrongCodePurpose(DomainError):
    """A pupil's code redeemed as a guardian's, or the other way round."""

    code = "wrong_code_purpose"

    def __init__(self, purpose: BindingPurpose) -> None:
        super().__init__(f"This is a {purpose.value}'s code.", purpose=purpose.value)


# --- binding codes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BindingCode:
    code_key: str
    purpose: BindingPurpose
    participant_id: UUID
    consent_id: UUID | None
    expires_at: datetime
    redeemed_by: str | None = None  # the account's key, once redeemed
    cancelled: bool = False  # replaced by a newer class list's code


@dataclass(frozen=True, slots=True)
class IssueCode:
    code_key: str
    purpose: BindingPurpose
    participant_id: UUID
    expires_at: datetime
    consent_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class RedeemCode:
    code_key: str
    account_key: str
    purpose: BindingPurpose
    now: datetime


@dataclass(frozen=True, slots=True)
class CancelCode:
    """A newer class list's code replaces this one, if it is still unused."""

    code_key: str


CodeCommand = IssueCode | RedeemCode | CancelCode
CodeEvent = BindingCodeIssued | BindingCodeRedeemed | BindingCodeCancelled

initial_code: Final[BindingCode | None] = None


def decide_code(command: CodeCommand, state: BindingCode | None) -> list[CodeEvent]:
    match command:
        case IssueCode():
            if state is not None:
                raise BindingCodeTaken()
            if (command.consent_id is not None) != (command.purpose is BindingPurpose.GUARDIAN):
                raise GuardianCodeNeedsConsent()
            return [
                BindingCodeIssued(
                    code_key=command.code_key,
                    purpose=command.purpose,
                    participant_id=command.participant_id,
                    consent_id=command.consent_id,
                    expires_at=command.expires_at,
                )
            ]
        case RedeemCode():
            if state is None:
                raise InvalidBindingCode()
            if state.redeemed_by is not None:
                raise BindingCodeUsed()
            if state.cancelled:
                raise BindingCodeReplaced()
            if command.now >= state.expires_at:
                raise BindingCodeExpired()
            if state.purpose is not command.purpose:
                raise WrongCodePurpose(state.purpose)
            return [BindingCodeRedeemed(code_key=state.code_key, account_key=command.account_key)]
        case CancelCode():
            if state is None:
                raise InvalidBindingCode()
            if state.redeemed_by is not None or state.cancelled:
                return []  # used, or replaced already: nothing to cancel
            return [BindingCodeCancelled(code_key=state.code_key)]
        case _:
            assert_never(command)


def evolve_code(state: BindingCode | None, event: CodeEvent) -> BindingCode | None:
    match event:
        case BindingCodeIssued():
            return BindingCode(
                event.code_key,
                event.purpose,
                event.participant_id,
                event.consent_id,
                event.expires_at,
            )
        case BindingCodeRedeemed():
            return None if state is None else replace(state, redeemed_by=event.account_key)
        case BindingCodeCancelled():
            return None if state is None else replace(state, cancelled=True)
        case _:
            assert_never(event)


def code_stream_id(code_key: str) -> str:
    return f"{BindingCodeIssued.stream_category}-{code_key}"


# --- accounts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    account_key: str
    participant_id: UUID | None = None  # the pupil the account is
    # The children the account signed consents for: participant id -> the consent of its code.
    guardian_of: tuple[tuple[UUID, UUID], ...] = ()

    def consent_for(self, participant_id: UUID) -> UUID | None:
        return dict(self.guardian_of).get(participant_id)


@dataclass(frozen=True, slots=True)
class BindPupil:
    account_key: str
    participant_id: UUID


@dataclass(frozen=True, slots=True)
class BindGuardian:
    account_key: str
    participant_id: UUID
    consent_id: UUID


@dataclass(frozen=True, slots=True)
class UnbindPupil:
    account_key: str
    participant_id: UUID


AccountCommand = BindPupil | BindGuardian | UnbindPupil
AccountEvent = PupilAccountBound | GuardianAccountBound | PupilAccountUnbound


def initial_account(account_key: str) -> Account:
    return Account(account_key)


def decide_account(command: AccountCommand, state: Account) -> list[AccountEvent]:
    match command:
        case BindPupil():
            if state.participant_id == command.participant_id:
                return []
            if state.participant_id is not None:
                raise AccountAlreadyBound()
            return [
                PupilAccountBound(
                    account_key=command.account_key, participant_id=command.participant_id
                )
            ]
        case UnbindPupil():
            if state.participant_id != command.participant_id:
                raise AccountNotBound()
            return [
                PupilAccountUnbound(
                    account_key=command.account_key, participant_id=command.participant_id
                )
            ]
        case BindGuardian():
            if state.consent_for(command.participant_id) == command.consent_id:
                return []
            return [
                GuardianAccountBound(
                    account_key=command.account_key,
                    participant_id=command.participant_id,
                    consent_id=command.consent_id,
                )
            ]
        case _:
            assert_never(command)


def evolve_account(state: Account, event: AccountEvent) -> Account:
    match event:
        case PupilAccountBound():
            return replace(state, participant_id=event.participant_id)
        case PupilAccountUnbound():
            return replace(state, participant_id=None)
        case GuardianAccountBound():
            others = tuple(link for link in state.guardian_of if link[0] != event.participant_id)
            return replace(state, guardian_of=(*others, (event.participant_id, event.consent_id)))
        case _:
            assert_never(event)


def account_stream_id(account_key: str) -> str:
    return f"{PupilAccountBound.stream_category}-{account_key}"


# --- entitlement ---------------------------------------------------------------------------


def guardian_entitled(
    account: Account, participant_id: UUID, consent_in_force: UUID | None
) -> bool:
    """Whether the account may act for the child: it holds the code of the consent that is
    verified and in force today (`consent_in_force`: None when none is, because it is pending,
    was rejected, withdrawn, has expired or the child was erased)."""
    linked = account.consent_for(participant_id)
    return linked is not None and linked == consent_in_force
