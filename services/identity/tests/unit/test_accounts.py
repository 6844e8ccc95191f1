"""Pupils' and guardians' accounts (docs/adr/0053): binding codes are single use and expire; an
account is one pupil; a guardian is entitled to a child only while the consent of their code is
the verified one in force."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import reduce
from uuid import UUID, uuid4

import pytest

from bilet_identity.domain.accounts import (
    Account,
    AccountAlreadyBound,
    AccountEvent,
    AccountNotBound,
    BindGuardian,
    BindingCode,
    BindingCodeExpired,
    BindingCodeReplaced,
    BindingCodeTaken,
    BindingCodeUsed,
    BindPupil,
    CancelCode,
    CodeEvent,
    GuardianCodeNeedsConsent,
    InvalidBindingCode,
    IssueCode,
    RedeemCode,
    UnbindPupil,
    WrongCodePurpose,
    decide_account,
    decide_code,
    evolve_account,
    evolve_code,
    guardian_entitled,
    initial_account,
    initial_code,
)
from bilet_identity.domain.internal import (
    BindingCodeCancelled,
    BindingCodeIssued,
    BindingCodeRedeemed,
    BindingPurpose,
    GuardianAccountBound,
    PupilAccountBound,
    PupilAccountUnbound,
)

CODE = "c" * 64
ACCOUNT = "a" * 64
OTHER_ACCOUNT = "b" * 64
PUPIL = UUID("11111111-1111-4111-8111-111111111111")
OTHER_PUPIL = UUID("22222222-2222-4222-8222-222222222222")
CONSENT = UUID("33333333-3333-4333-8333-333333333333")
ISSUED_AT = datetime(2019, 9, 2, 9, 0, tzinfo=UTC)
EXPIRES_AT = ISSUED_AT + timedelta(days=14)


def code_given(*events: CodeEvent) -> BindingCode | None:
    return reduce(evolve_code, events, initial_code)


def account_given(*events: AccountEvent) -> Account:
    return reduce(evolve_account, events, initial_account(ACCOUNT))


def issued(purpose: BindingPurpose = BindingPurpose.PUPIL) -> BindingCodeIssued:
    consent = CONSENT if purpose is BindingPurpose.GUARDIAN else None
    [event] = decide_code(
        IssueCode(CODE, purpose, PUPIL, EXPIRES_AT, consent_id=consent), initial_code
    )
    assert isinstance(event, BindingCodeIssued)
    return event


def redeem(
    at: datetime = ISSUED_AT,
    account: str = ACCOUNT,
    purpose: BindingPurpose = BindingPurpose.PUPIL,
) -> RedeemCode:
    return RedeemCode(CODE, account, purpose, at)


def test_given_nothing_when_a_code_is_issued_then_only_its_keyed_hash_is_recorded() -> None:
    event = issued()
    assert event == BindingCodeIssued(
        code_key=CODE,
        purpose=BindingPurpose.PUPIL,
        participant_id=PUPIL,
        consent_id=None,
        expires_at=EXPIRES_AT,
    )


def test_given_an_issued_code_when_the_same_key_is_issued_again_then_taken() -> None:
    with pytest.raises(BindingCodeTaken):
        decide_code(
            IssueCode(CODE, BindingPurpose.PUPIL, OTHER_PUPIL, EXPIRES_AT), code_given(issued())
        )


def test_a_guardians_code_names_its_consent_and_a_pupils_none() -> None:
    for purpose, consent in ((BindingPurpose.GUARDIAN, None), (BindingPurpose.PUPIL, CONSENT)):
        with pytest.raises(GuardianCodeNeedsConsent):
            decide_code(IssueCode(CODE, purpose, PUPIL, EXPIRES_AT, consent), initial_code)


def test_given_an_issued_code_when_redeemed_before_it_expires_then_redeemed_by_the_account() -> (
    None
):
    assert decide_code(redeem(), code_given(issued())) == [
        BindingCodeRedeemed(code_key=CODE, account_key=ACCOUNT)
    ]


def test_given_no_code_when_redeemed_then_invalid() -> None:
    with pytest.raises(InvalidBindingCode):
        decide_code(redeem(), initial_code)


def test_given_a_redeemed_code_when_redeemed_again_by_anyone_then_used() -> None:
    state = code_given(issued(), BindingCodeRedeemed(code_key=CODE, account_key=ACCOUNT))
    for account in (ACCOUNT, OTHER_ACCOUNT):
        with pytest.raises(BindingCodeUsed):
            decide_code(redeem(account=account), state)


def test_given_an_issued_code_when_redeemed_at_or_after_its_expiry_then_expired() -> None:
    state = code_given(issued())
    assert decide_code(redeem(EXPIRES_AT - timedelta(seconds=1)), state)
    for late in (EXPIRES_AT, EXPIRES_AT + timedelta(days=1)):
        with pytest.raises(BindingCodeExpired):
            decide_code(redeem(late), state)


def test_given_a_guardians_code_when_redeemed_as_a_pupils_then_refused() -> None:
    state = code_given(issued(BindingPurpose.GUARDIAN))
    with pytest.raises(WrongCodePurpose) as refused:
        decide_code(redeem(purpose=BindingPurpose.PUPIL), state)
    assert refused.value.details == {"purpose": "guardian"}
    assert decide_code(redeem(purpose=BindingPurpose.GUARDIAN), state)


def test_given_a_fresh_account_when_bound_to_a_pupil_then_it_is_that_pupil() -> None:
    decided = decide_account(BindPupil(ACCOUNT, PUPIL), account_given())
    assert decided == [PupilAccountBound(account_key=ACCOUNT, participant_id=PUPIL)]
    assert account_given(*decided).participant_id == PUPIL


def test_given_a_pupils_account_when_bound_to_the_same_pupil_then_nothing_happens() -> None:
    state = account_given(PupilAccountBound(account_key=ACCOUNT, participant_id=PUPIL))
    assert decide_account(BindPupil(ACCOUNT, PUPIL), state) == []


def test_given_a_pupils_account_when_bound_to_another_pupil_then_refused() -> None:
    state = account_given(PupilAccountBound(account_key=ACCOUNT, participant_id=PUPIL))
    with pytest.raises(AccountAlreadyBound):
        decide_account(BindPupil(ACCOUNT, OTHER_PUPIL), state)


def test_given_an_unused_code_when_a_new_list_cancels_it_then_it_binds_nothing() -> None:
    state = code_given(issued(BindingPurpose.PUPIL))
    cancelled = decide_code(CancelCode(CODE), state)
    assert cancelled == [BindingCodeCancelled(code_key=CODE)]
    with pytest.raises(BindingCodeReplaced):
        decide_code(
            redeem(purpose=BindingPurpose.PUPIL),
            code_given(issued(BindingPurpose.PUPIL), *cancelled),
        )


def test_given_a_used_or_cancelled_code_when_cancelled_then_nothing_happens() -> None:
    used = code_given(
        issued(BindingPurpose.PUPIL), BindingCodeRedeemed(code_key=CODE, account_key=ACCOUNT)
    )
    assert decide_code(CancelCode(CODE), used) == []
    replaced = code_given(issued(BindingPurpose.PUPIL), BindingCodeCancelled(code_key=CODE))
    assert decide_code(CancelCode(CODE), replaced) == []
    with pytest.raises(InvalidBindingCode):
        decide_code(CancelCode(CODE), code_given())


def test_given_a_pupils_account_when_unbound_then_it_is_nobody_and_can_bind_again() -> None:
    state = account_given(PupilAccountBound(account_key=ACCOUNT, participant_id=PUPIL))
    decided = decide_account(UnbindPupil(ACCOUNT, PUPIL), state)
    assert decided == [PupilAccountUnbound(account_key=ACCOUNT, participant_id=PUPIL)]
    after = account_given(PupilAccountBound(account_key=ACCOUNT, participant_id=PUPIL), *decided)
    assert after.participant_id is None
    assert decide_account(BindPupil(ACCOUNT, OTHER_PUPIL), after) == [
        PupilAccountBound(account_key=ACCOUNT, participant_id=OTHER_PUPIL)
    ]


@pytest.mark.parametrize("bound_to", [None, OTHER_PUPIL], ids=["unbound", "another pupil"])
def test_given_an_account_not_the_pupils_when_unbound_from_them_then_refused(
    bound_to: UUID | None,
) -> None:
    events = (
        []
        if bound_to is None
        else [PupilAccountBound(account_key=ACCOUNT, participant_id=bound_to)]
    )
    with pytest.raises(AccountNotBound):
        decide_account(UnbindPupil(ACCOUNT, PUPIL), account_given(*events))


def _guardian(*consents: tuple[UUID, UUID]) -> Sequence[GuardianAccountBound]:
    return [
        GuardianAccountBound(account_key=ACCOUNT, participant_id=child, consent_id=consent)
        for child, consent in consents
    ]


def test_given_a_guardian_when_a_later_consent_of_the_same_child_is_bound_then_it_replaces() -> (
    None
):
    later = uuid4()
    state = account_given(*_guardian((PUPIL, CONSENT), (OTHER_PUPIL, CONSENT)))
    [event] = decide_account(BindGuardian(ACCOUNT, PUPIL, later), state)
    after = evolve_account(state, event)
    assert after.consent_for(PUPIL) == later
    assert after.consent_for(OTHER_PUPIL) == CONSENT
    assert decide_account(BindGuardian(ACCOUNT, PUPIL, later), after) == []


def test_a_guardian_is_entitled_only_while_the_consent_of_their_code_is_in_force() -> None:
    guardian = account_given(*_guardian((PUPIL, CONSENT)))
    # Verified and in force: entitled.
    assert guardian_entitled(guardian, PUPIL, CONSENT)
    # Pending, rejected, withdrawn, expired, erased: nothing in force.
    assert not guardian_entitled(guardian, PUPIL, None)
    # Another consent (signed by someone else) in force: not this guardian's.
    assert not guardian_entitled(guardian, PUPIL, uuid4())
    # Another child: never.
    assert not guardian_entitled(guardian, OTHER_PUPIL, CONSENT)
    assert not guardian_entitled(account_given(), PUPIL, CONSENT)
