"""The consent decider: given these events, when this command, then these events (or this
refusal). Every transition and every error."""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet.contracts import DomainEvent, SealedValue
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
from bilet.contracts.examples import sealed
from bilet_consent.domain import consent as consents
from bilet_consent.domain.consent import (
    Command,
    EraseParticipant,
    RejectConsent,
    Status,
    SubmitConsent,
    VerifyConsent,
    WithdrawConsent,
)
from bilet_consent.domain.errors import (
    AuthorityRequired,
    ConsentExists,
    ConsentExpired,
    ConsentNotInForce,
    ConsentNotPending,
    DomainError,
    ErasureNotDue,
    ErasureScheduled,
    InvalidConsent,
    ParticipantErasedError,
    PurposeNotConsented,
    UnknownConsent,
)
from bilet_consent.domain.guardian import Authority, Contact, Guardian, GuardianName, Passport

PUPIL = uuid4()
SCHOOL = uuid4()
GUARDIAN_ID = uuid4()
TODAY = date(2019, 9, 20)
ALL = (
    Purpose.PROGRAMME_PARTICIPATION,
    Purpose.ONLINE_DIAGNOSTICS,
    Purpose.CAREER_EVENTS,
    Purpose.HEALTH_DATA,
)
GUARDIAN = Guardian(
    GuardianName("Соколова", "Ирина", "Викторовна"),
    Passport("4105", "731592", "ТП № 1", date(2010, 3, 15)),
    None,
    Contact("+79211234567", None),
)


def submit(consent_id: UUID, **changes: object) -> SubmitConsent:
    fields: dict[str, object] = {
        "participant_id": PUPIL,
        "consent_id": consent_id,
        "document_id": uuid4(),
        "school_id": SCHOOL,
        "form_version": "2019-1",
        "purposes": ALL,
        "signed_on": TODAY - timedelta(days=3),
        "valid_until": date(2020, 8, 31),
        "guardian_id": GUARDIAN_ID,
        "relationship": Relationship.PARENT,
        "guardian": GUARDIAN,
        "today": TODAY,
    }
    fields.update(changes)
    return SubmitConsent(**fields)  # type: ignore[arg-type]


def submitted(consent_id: UUID, purposes: tuple[Purpose, ...] = ALL) -> ConsentSubmitted:
    return ConsentSubmitted(
        participant_id=PUPIL,
        consent_id=consent_id,
        school_id=SCHOOL,
        document_id=uuid4(),
        form_version="2019-1",
        purposes=purposes,
        signed_on=TODAY - timedelta(days=3),
        valid_until=date(2020, 8, 31),
        guardian_id=GUARDIAN_ID,
        relationship=Relationship.PARENT,
        guardian_full_name=SealedValue.model_validate(sealed("guardian_full_name")),
        guardian_passport=SealedValue.model_validate(sealed("guardian_passport")),
    )


def verified(consent_id: UUID, purposes: tuple[Purpose, ...] = ALL) -> ConsentVerified:
    return ConsentVerified(
        participant_id=PUPIL,
        consent_id=consent_id,
        purposes=purposes,
        valid_until=date(2020, 8, 31),
    )


def withdrawn(consent_id: UUID, on: date = TODAY) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        participant_id=PUPIL,
        consent_id=consent_id,
        withdrawn_on=on,
        erase_by=on + timedelta(days=30),
    )


def verify(consent_id: UUID, today: date = TODAY) -> VerifyConsent:
    return VerifyConsent(consent_id, today, {"last_name": "Соколова"}, {"phone": None})


def when(given: list[DomainEvent], command: Command) -> list[Decided]:
    return consents.decide(command, consents.fold(PUPIL, given))


def refused(given: list[DomainEvent], command: Command, error: type[DomainError]) -> DomainError:
    with pytest.raises(error) as raised:
        when(given, command)
    return raised.value


# ---------------------------------------------------------------------- submit
def test_submit_seals_the_signer_and_is_pending() -> None:
    consent_id = uuid4()
    [draft] = when([], submit(consent_id))
    assert isinstance(draft, Unsealed)
    assert draft.event_class is ConsentSubmitted
    assert set(draft.personal) == {"guardian_full_name", "guardian_passport"}
    assert draft.personal["guardian_passport"]["number"] == "731592"
    assert draft.clear["guardian_authority"] is None
    assert "731592" not in repr(draft)
    state = consents.fold(PUPIL, [submitted(consent_id)])
    assert state.find(consent_id) is not None
    assert state.consents[0].status is Status.PENDING


def test_a_custodian_signs_with_the_act_of_appointment() -> None:
    refused([], submit(uuid4(), relationship=Relationship.CUSTODIAN), AuthorityRequired)
    with_act = Guardian(
        GUARDIAN.name,
        GUARDIAN.passport,
        Authority("Распоряжение администрации Лужского района", "112-р", date(2018, 5, 4)),
        GUARDIAN.contact,
    )
    [draft] = when([], submit(uuid4(), relationship=Relationship.CUSTODIAN, guardian=with_act))
    assert isinstance(draft, Unsealed)
    assert "guardian_authority" in draft.personal


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"purposes": (Purpose.HEALTH_DATA,)}, InvalidConsent, "purposes"),
        ({"signed_on": TODAY + timedelta(days=1)}, InvalidConsent, "signed_on"),
        ({"valid_until": TODAY - timedelta(days=10)}, InvalidConsent, "valid_until"),
        ({"valid_until": date(2025, 1, 1)}, InvalidConsent, "valid_until"),
        (
            {"signed_on": date(2018, 9, 1), "valid_until": date(2019, 8, 31)},
            ConsentExpired,
            None,
        ),
    ],
)
def test_submit_refuses_bad_terms(
    changes: dict[str, object], error: type[DomainError], field: str | None
) -> None:
    raised = refused([], submit(uuid4(), **changes), error)
    assert raised.details.get("field") == field


def test_a_consent_id_is_used_once() -> None:
    consent_id = uuid4()
    refused([submitted(consent_id)], submit(consent_id), ConsentExists)


def test_no_submission_after_withdrawal_or_erasure() -> None:
    consent_id = uuid4()
    history: list[DomainEvent] = [
        submitted(consent_id),
        verified(consent_id),
        withdrawn(consent_id),
    ]
    error = refused(history, submit(uuid4()), ErasureScheduled)
    assert error.details["erase_by"] == "2019-10-20"
    erased = ParticipantErased(
        participant_id=PUPIL,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2019, 10, 21, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )
    refused([*history, erased], submit(uuid4()), ParticipantErasedError)


# ---------------------------------------------------------------------- verify / reject
def test_verify_opens_participation_and_links_the_guardian() -> None:
    consent_id = uuid4()
    events = when([submitted(consent_id)], verify(consent_id))
    assert events[0] == verified(consent_id)
    assert isinstance(events[1], Unsealed)
    assert events[1].event_class is GuardianLinked
    assert events[1].clear["guardian_id"] == GUARDIAN_ID
    state = consents.fold(PUPIL, [submitted(consent_id), verified(consent_id)])
    current = state.current()
    assert current is not None
    assert current.in_force_on(TODAY)
    assert not current.in_force_on(date(2020, 9, 1))


def test_verify_and_reject_only_what_is_pending() -> None:
    consent_id = uuid4()
    refused([], verify(consent_id), UnknownConsent)
    refused([], RejectConsent(consent_id, (RejectionReason.UNREADABLE_SCAN,)), UnknownConsent)
    done: list[DomainEvent] = [submitted(consent_id), verified(consent_id)]
    refused(done, verify(consent_id), ConsentNotPending)
    refused(done, RejectConsent(consent_id, (RejectionReason.UNREADABLE_SCAN,)), ConsentNotPending)


def test_an_expired_consent_is_not_verified() -> None:
    consent_id = uuid4()
    refused([submitted(consent_id)], verify(consent_id, date(2020, 9, 1)), ConsentExpired)


def test_reject_says_why() -> None:
    consent_id = uuid4()
    reasons = (RejectionReason.UNREADABLE_SCAN, RejectionReason.UNREADABLE_SCAN)
    assert when([submitted(consent_id)], RejectConsent(consent_id, reasons)) == [
        ConsentRejected(
            participant_id=PUPIL, consent_id=consent_id, reasons=(RejectionReason.UNREADABLE_SCAN,)
        )
    ]
    refused([submitted(consent_id)], RejectConsent(consent_id, ()), InvalidConsent)


def test_a_later_verified_consent_supersedes_earlier_ones() -> None:
    first, second, third = uuid4(), uuid4(), uuid4()
    state = consents.fold(
        PUPIL,
        [
            submitted(first),
            verified(first),
            submitted(second),
            submitted(third),
            verified(third),
        ],
    )
    statuses = {c.consent_id: c.status for c in state.consents}
    assert statuses == {
        first: Status.SUPERSEDED,
        second: Status.SUPERSEDED,
        third: Status.VERIFIED,
    }
    refused(
        [submitted(first), verified(first), submitted(second), verified(second)],
        verify(first),
        ConsentNotPending,
    )


# ---------------------------------------------------------------------- withdraw
def test_withdrawing_the_whole_consent_schedules_destruction() -> None:
    consent_id = uuid4()
    given: list[DomainEvent] = [submitted(consent_id), verified(consent_id)]
    assert when(given, WithdrawConsent(consent_id, TODAY, 30)) == [withdrawn(consent_id)]
    # Withdrawing programme participation is withdrawing the whole consent.
    partial = WithdrawConsent(consent_id, TODAY, 30, (Purpose.PROGRAMME_PARTICIPATION,))
    assert when(given, partial) == [withdrawn(consent_id)]


def test_withdrawing_health_data_keeps_the_rest() -> None:
    consent_id = uuid4()
    given: list[DomainEvent] = [submitted(consent_id), verified(consent_id)]
    command = WithdrawConsent(consent_id, TODAY, 30, (Purpose.HEALTH_DATA,))
    [event] = when(given, command)
    assert event == ConsentPurposesWithdrawn(
        participant_id=PUPIL,
        consent_id=consent_id,
        withdrawn=(Purpose.HEALTH_DATA,),
        remaining=(
            Purpose.PROGRAMME_PARTICIPATION,
            Purpose.ONLINE_DIAGNOSTICS,
            Purpose.CAREER_EVENTS,
        ),
        withdrawn_on=TODAY,
    )
    assert isinstance(event, DomainEvent)
    state = consents.fold(PUPIL, [*given, event])
    current = state.current()
    assert current is not None
    assert Purpose.HEALTH_DATA not in current.effective_purposes
    assert state.erase_by is None
    error = refused([*given, event], command, PurposeNotConsented)
    assert error.details["purposes"] == ["health_data"]


def _after(given: list[DomainEvent], consent_id: UUID, purpose: Purpose) -> list[DomainEvent]:
    """The events once the guardian withdrew `purpose` from the consent."""
    [event] = when(given, WithdrawConsent(consent_id, TODAY, 30, (purpose,)))
    assert isinstance(event, ConsentPurposesWithdrawn)
    return [*given, event]


def test_each_withdrawal_of_health_data_moves_the_health_key_generation_on() -> None:
    # It destroys the generation in force (ADR 0026); a new consent covering health data opens
    # none by itself: identity seals under the one in force when the school states it again.
    first, second = uuid4(), uuid4()
    given: list[DomainEvent] = [submitted(first), verified(first)]
    assert consents.fold(PUPIL, given).health_generation == 1
    given = _after(given, first, Purpose.HEALTH_DATA)
    assert consents.fold(PUPIL, given).health_generation == 2
    given += [submitted(second), verified(second)]
    assert consents.fold(PUPIL, given).health_generation == 2
    given = _after(given, second, Purpose.HEALTH_DATA)
    assert consents.fold(PUPIL, given).health_generation == 3


def test_a_withdrawal_of_other_purposes_leaves_the_health_key_generation() -> None:
    consent_id = uuid4()
    given = _after([submitted(consent_id), verified(consent_id)], consent_id, Purpose.CAREER_EVENTS)
    assert consents.fold(PUPIL, given).health_generation == 1


def test_a_pending_consent_can_be_withdrawn_too() -> None:
    consent_id = uuid4()
    assert when([submitted(consent_id)], WithdrawConsent(consent_id, TODAY, 30)) == [
        withdrawn(consent_id)
    ]


def test_withdraw_refusals() -> None:
    consent_id = uuid4()
    refused([], WithdrawConsent(consent_id, TODAY, 30), UnknownConsent)
    rejected = ConsentRejected(
        participant_id=PUPIL, consent_id=consent_id, reasons=(RejectionReason.WRONG_PARTICIPANT,)
    )
    refused(
        [submitted(consent_id), rejected], WithdrawConsent(consent_id, TODAY, 30), ConsentNotInForce
    )
    superseded: list[DomainEvent] = [
        submitted(consent_id),
        verified(consent_id),
        submitted(later := uuid4()),
        verified(later),
    ]
    refused(superseded, WithdrawConsent(consent_id, TODAY, 30), ConsentNotInForce)
    refused(
        [submitted(consent_id), verified(consent_id)],
        WithdrawConsent(consent_id, TODAY, 30, ()),
        InvalidConsent,
    )


def test_purposes_withdrawn_while_pending_are_not_verified_back() -> None:
    # Given a pending consent whose health-data purpose the guardian withdrew,
    consent_id = uuid4()
    [partial] = when(
        [submitted(consent_id)], WithdrawConsent(consent_id, TODAY, 30, (Purpose.HEALTH_DATA,))
    )
    assert isinstance(partial, DomainEvent)
    # when a verifier verifies it,
    events = when([submitted(consent_id), partial], verify(consent_id))
    # then what is published in force is what the guardian still allows, in catalogue order.
    assert events[0] == verified(
        consent_id,
        (Purpose.PROGRAMME_PARTICIPATION, Purpose.ONLINE_DIAGNOSTICS, Purpose.CAREER_EVENTS),
    )


def test_a_whole_withdrawal_ends_every_pending_and_verified_consent() -> None:
    # Given a consent in force and a newer one still pending,
    in_force, pending = uuid4(), uuid4()
    given: list[DomainEvent] = [submitted(in_force), verified(in_force), submitted(pending)]
    # when the guardian withdraws the pending one as a whole,
    events = when(given, WithdrawConsent(pending, TODAY, 30))
    # then both end, the one in force first, with the same destruction date,
    assert events == [withdrawn(in_force), withdrawn(pending)]
    state = consents.fold(PUPIL, [*given, withdrawn(in_force), withdrawn(pending)])
    assert {c.status for c in state.consents} == {Status.WITHDRAWN}
    assert state.current() is None
    assert state.erase_by == TODAY + timedelta(days=30)
    # and the ground of the destruction is the consent that was in force.
    first = state.withdrawn_whole()
    assert first is not None
    assert first.consent_id == in_force


def test_a_second_withdrawal_is_refused_and_nothing_postpones_the_destruction() -> None:
    # Given a consent withdrawn as a whole today,
    consent_id, pending = uuid4(), uuid4()
    given: list[DomainEvent] = [submitted(consent_id), verified(consent_id), withdrawn(consent_id)]
    # when anyone withdraws again 25 days later, whole or in part, or a new consent's,
    later = TODAY + timedelta(days=25)
    for command in (
        WithdrawConsent(consent_id, later, 30),
        WithdrawConsent(consent_id, later, 30, (Purpose.HEALTH_DATA,)),
        WithdrawConsent(pending, later, 30),
    ):
        # then it is refused with the date already scheduled.
        error = refused([*given, submitted(pending)], command, ErasureScheduled)
        assert error.details["erase_by"] == "2019-10-20"
    # A later withdrawal in the history (a replay, a duplicate, an older release's decision)
    # keeps the earliest date and the first withdrawal as the ground.
    history = [*given, submitted(pending), withdrawn(pending, later)]
    state = consents.fold(PUPIL, history)
    assert state.erase_by == date(2019, 10, 20)
    first = state.withdrawn_whole()
    assert first is not None
    assert first.consent_id == consent_id
    assert consents.fold(PUPIL, [*history, withdrawn(consent_id)]).erase_by == date(2019, 10, 20)


def test_withdrawing_a_consent_that_ended_keeps_its_earlier_destruction_date() -> None:
    # Given a verified consent that ended on 31 August 2020 (destruction due 30 September),
    consent_id = uuid4()
    given: list[DomainEvent] = [submitted(consent_id), verified(consent_id)]
    # when the guardian withdraws it on 20 September,
    [event] = when(given, WithdrawConsent(consent_id, date(2020, 9, 20), 30))
    # then the destruction stays on 30 September, not 30 days after the withdrawal.
    assert isinstance(event, ConsentWithdrawn)
    assert event.erase_by == date(2020, 9, 30)


# ---------------------------------------------------------------------- erase
def test_erasure_is_due_on_erase_by_and_happens_once() -> None:
    consent_id = uuid4()
    given: list[DomainEvent] = [submitted(consent_id), verified(consent_id), withdrawn(consent_id)]
    refused(given, EraseParticipant(datetime(2019, 10, 19, 12, tzinfo=UTC), 30), ErasureNotDue)
    now = datetime(2019, 10, 20, 3, tzinfo=UTC)
    [event] = when(given, EraseParticipant(now, 30))
    assert event == ParticipantErased(
        participant_id=PUPIL,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=now,
        destruction_record_id=consents.destruction_record_id(PUPIL),
    )
    assert isinstance(event, DomainEvent)
    assert when([*given, event], EraseParticipant(now, 30)) == []
    refused([submitted(consent_id)], EraseParticipant(now, 30), ErasureNotDue)
    refused([*given, event], verify(uuid4()), ParticipantErasedError)
    refused([*given, event], WithdrawConsent(consent_id, TODAY, 30), ParticipantErasedError)


def test_an_ended_consent_not_renewed_has_the_data_destroyed_after_the_erasure_days() -> None:
    # Given a verified consent valid until 31 August 2020 and nothing newer verified,
    consent_id = uuid4()
    given: list[DomainEvent] = [submitted(consent_id), verified(consent_id), submitted(uuid4())]
    state = consents.fold(PUPIL, given)
    assert state.expiry_erase_by(30) == date(2020, 9, 30)
    # when the job runs the day before valid_until + 30 days, then nothing is due;
    refused(given, EraseParticipant(datetime(2020, 9, 29, 23, tzinfo=UTC), 30), ErasureNotDue)
    # when it runs on that day, then the data is destroyed because the consent expired.
    now = datetime(2020, 9, 30, 1, tzinfo=UTC)
    [event] = when(given, EraseParticipant(now, 30))
    assert event == ParticipantErased(
        participant_id=PUPIL,
        reason=ErasureReason.CONSENT_EXPIRED,
        erased_at=now,
        destruction_record_id=consents.destruction_record_id(PUPIL),
    )


def test_a_renewed_consent_cancels_the_destruction_on_expiry() -> None:
    # Given a consent that ended and a newer one verified before the destruction date,
    first, renewed = uuid4(), uuid4()
    given: list[DomainEvent] = [
        submitted(first),
        verified(first),
        submitted(renewed),
        ConsentVerified(
            participant_id=PUPIL,
            consent_id=renewed,
            purposes=ALL,
            valid_until=date(2021, 8, 31),
        ),
    ]
    # when the job runs on the first consent's destruction date, then nothing is due.
    refused(given, EraseParticipant(datetime(2020, 9, 30, 1, tzinfo=UTC), 30), ErasureNotDue)
    assert consents.fold(PUPIL, given).expiry_erase_by(30) == date(2021, 9, 30)
