"""The read model of consents in force (docs/adr/0019), fed as the embedded feed feeds it: which
purposes a participant's consent allows on a given day, from consent's published events."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

from bilet.contracts import EventMetadata, SealedValue, encode
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentRejected,
    ConsentSubmitted,
    ConsentVerified,
    ConsentWithdrawn,
    ErasureReason,
    ParticipantErased,
    Purpose,
    RejectionReason,
    Relationship,
)
from bilet.contracts.examples import sealed
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections import EmbeddedFeed
from bilet.projections.sqlite import SqliteReadModel
from bilet_identity.application.consent_state import (
    HEALTH_DATA,
    ConsentInForce,
    ConsentState,
    ConsentStateProjection,
    ConsentStates,
    Folded,
)

TODAY = date(2019, 10, 1)
ALL = frozenset(p.value for p in Purpose)
WITHOUT_HEALTH = tuple(p for p in Purpose if p is not Purpose.HEALTH_DATA)


def verified(
    pid: UUID, consent_id: UUID, purposes: tuple[Purpose, ...] = tuple(Purpose)
) -> ConsentVerified:
    return ConsentVerified(
        participant_id=pid, consent_id=consent_id, purposes=purposes, valid_until=date(2020, 8, 31)
    )


async def in_force(tmp_path: Path, pid: UUID, *events: Folded, on: date = TODAY) -> frozenset[str]:
    """The purposes in force `on` the day, after consent's stream told these events."""
    return (await consent_of(tmp_path, pid, *events, on=on)).purposes


@asynccontextmanager
async def fed(tmp_path: Path, *events: Folded) -> AsyncIterator[ConsentStates]:
    """The read model after consent's stream told these events."""
    consent = InMemoryEventStore()
    for event in events:
        stream_id = f"consent-{event.participant_id}"
        await consent.append(stream_id, [encode(event, EventMetadata(actor="consent"))])
    read_model = await SqliteReadModel.open(tmp_path / f"{uuid4()}.sqlite3")
    try:
        await EmbeddedFeed(read_model, ConsentStateProjection(), {"consent": consent}).catch_up({})
        yield ConsentStates(read_model)
    finally:
        await read_model.close()


async def consent_of(
    tmp_path: Path, pid: UUID, *events: Folded, on: date = TODAY
) -> ConsentInForce:
    """The consent in force `on` the day and the withdrawals of health data, after these."""
    async with fed(tmp_path, *events) as states:
        return await states.in_force(pid, on)


async def test_a_verified_consent_is_in_force_until_its_last_day(tmp_path: Path) -> None:
    pid, consent_id = uuid4(), uuid4()
    assert await in_force(tmp_path, pid) == frozenset()
    assert await in_force(tmp_path, pid, verified(pid, consent_id)) == ALL
    last_day = date(2020, 8, 31)
    assert await in_force(tmp_path, pid, verified(pid, consent_id), on=last_day) == ALL
    after = date(2020, 9, 1)
    assert await in_force(tmp_path, pid, verified(pid, consent_id), on=after) == frozenset()


async def test_a_later_consent_supersedes_and_a_purpose_withdrawal_narrows(
    tmp_path: Path,
) -> None:
    pid, first, second = uuid4(), uuid4(), uuid4()
    narrowed = ConsentPurposesWithdrawn(
        participant_id=pid,
        consent_id=second,
        withdrawn=(Purpose.HEALTH_DATA,),
        remaining=WITHOUT_HEALTH,
        withdrawn_on=TODAY,
    )
    superseded = await in_force(
        tmp_path, pid, verified(pid, first), verified(pid, second, WITHOUT_HEALTH)
    )
    assert HEALTH_DATA not in superseded
    withdrawn = await in_force(tmp_path, pid, verified(pid, first), verified(pid, second), narrowed)
    assert withdrawn == ALL - {HEALTH_DATA}
    # A withdrawal naming another consent than the one in force changes nothing of it.
    other = await in_force(tmp_path, pid, verified(pid, first), narrowed)
    assert other == ALL


async def test_a_whole_withdrawal_or_an_erasure_closes_it_for_good(tmp_path: Path) -> None:
    pid, consent_id = uuid4(), uuid4()
    withdrawn = ConsentWithdrawn(
        participant_id=pid, consent_id=uuid4(), withdrawn_on=TODAY, erase_by=date(2019, 10, 31)
    )
    erased = ParticipantErased(
        participant_id=pid,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2019, 11, 1, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )
    # Whichever consent the withdrawal names (here a pending one): nothing is in force.
    assert await in_force(tmp_path, pid, verified(pid, consent_id), withdrawn) == frozenset()
    after = await in_force(
        tmp_path, pid, verified(pid, consent_id), withdrawn, verified(pid, uuid4())
    )
    assert after == frozenset()
    assert await in_force(tmp_path, pid, verified(pid, consent_id), erased) == frozenset()


async def test_a_rejection_closes_only_the_consent_it_names(tmp_path: Path) -> None:
    pid, consent_id = uuid4(), uuid4()
    rejected = ConsentRejected(
        participant_id=pid, consent_id=uuid4(), reasons=(RejectionReason.SIGNATURE_MISSING,)
    )
    assert await in_force(tmp_path, pid, verified(pid, consent_id), rejected) == ALL


async def test_other_participants_are_not_touched(tmp_path: Path) -> None:
    pid, other = uuid4(), uuid4()
    assert await in_force(tmp_path, other, verified(pid, uuid4())) == frozenset()


def withdrawn(
    pid: UUID, consent_id: UUID, purposes: tuple[Purpose, ...] = (Purpose.HEALTH_DATA,)
) -> ConsentPurposesWithdrawn:
    return ConsentPurposesWithdrawn(
        participant_id=pid,
        consent_id=consent_id,
        withdrawn=purposes,
        remaining=tuple(p for p in Purpose if p not in purposes),
        withdrawn_on=TODAY,
    )


async def test_each_withdrawal_of_health_data_moves_the_health_key_generation_on(
    tmp_path: Path,
) -> None:
    # Each one destroyed the generation in force (docs/adr/0026): the next is one further on.
    pid, first, second = uuid4(), uuid4(), uuid4()
    assert (await consent_of(tmp_path, pid)).health_generation == 1
    after_one = await consent_of(tmp_path, pid, verified(pid, first), withdrawn(pid, first))
    assert after_one == ConsentInForce(ALL - {HEALTH_DATA}, health_withdrawals=1)
    assert after_one.health_generation == 2
    # A new consent covers health data again, in the same generation: it destroyed nothing.
    again = await consent_of(
        tmp_path, pid, verified(pid, first), withdrawn(pid, first), verified(pid, second)
    )
    assert again == ConsentInForce(ALL, health_withdrawals=1)
    twice = await consent_of(
        tmp_path,
        pid,
        verified(pid, first),
        withdrawn(pid, first),
        verified(pid, second),
        withdrawn(pid, second),
    )
    assert twice.health_generation == 3


async def test_a_withdrawal_of_health_data_from_a_pending_consent_counts_too(
    tmp_path: Path,
) -> None:
    # The consent service destroys the generation in force for it as well.
    pid = uuid4()
    pending = await consent_of(tmp_path, pid, withdrawn(pid, uuid4()))
    assert pending == ConsentInForce(frozenset(), health_withdrawals=1)


async def test_a_withdrawal_of_other_purposes_leaves_the_generation(tmp_path: Path) -> None:
    pid, consent_id = uuid4(), uuid4()
    other = withdrawn(pid, consent_id, (Purpose.RECOMMENDATIONS,))
    assert (
        await consent_of(tmp_path, pid, verified(pid, consent_id), other)
    ).health_generation == 1


async def state_of(tmp_path: Path, pid: UUID, *events: Folded, on: date = TODAY) -> ConsentState:
    """Where the participant's consent stands `on` the day, after these (docs/adr/0041)."""
    async with fed(tmp_path, *events) as states:
        return (await states.states_of([pid], on))[pid]


def submitted(pid: UUID, consent_id: UUID) -> ConsentSubmitted:
    return ConsentSubmitted(
        participant_id=pid,
        consent_id=consent_id,
        school_id=uuid4(),
        document_id=uuid4(),
        form_version="2019-1",
        purposes=tuple(Purpose),
        signed_on=TODAY,
        valid_until=date(2020, 8, 31),
        guardian_id=uuid4(),
        relationship=Relationship.PARENT,
        guardian_full_name=SealedValue.model_validate(sealed("guardian_full_name")),
        guardian_passport=SealedValue.model_validate(sealed("guardian_passport")),
    )


async def test_a_consents_state_follows_submission_verification_rejection_and_expiry(
    tmp_path: Path,
) -> None:
    pid, first, second = uuid4(), uuid4(), uuid4()
    rejected = ConsentRejected(
        participant_id=pid, consent_id=first, reasons=(RejectionReason.SIGNATURE_MISSING,)
    )
    assert await state_of(tmp_path, pid) is ConsentState.MISSING
    assert await state_of(tmp_path, pid, submitted(pid, first)) is ConsentState.PENDING
    assert await state_of(tmp_path, pid, submitted(pid, first), rejected) is ConsentState.REJECTED
    again = (submitted(pid, first), rejected, submitted(pid, second))
    assert await state_of(tmp_path, pid, *again) is ConsentState.PENDING
    done = (*again, verified(pid, second))
    assert await state_of(tmp_path, pid, *done) is ConsentState.VERIFIED
    after = date(2020, 9, 1)
    assert await state_of(tmp_path, pid, *done, on=after) is ConsentState.EXPIRED
    renewal = (*done, submitted(pid, uuid4()))
    assert await state_of(tmp_path, pid, *renewal) is ConsentState.VERIFIED
    assert await state_of(tmp_path, pid, *renewal, on=after) is ConsentState.PENDING


async def test_a_withdrawn_or_erased_participants_consent_says_so(tmp_path: Path) -> None:
    pid, consent_id = uuid4(), uuid4()
    withdrawn = ConsentWithdrawn(
        participant_id=pid, consent_id=consent_id, withdrawn_on=TODAY, erase_by=date(2019, 10, 31)
    )
    erased = ParticipantErased(
        participant_id=pid,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2019, 11, 1, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )
    history = (submitted(pid, consent_id), verified(pid, consent_id), withdrawn)
    assert await state_of(tmp_path, pid, *history) is ConsentState.WITHDRAWN
    assert await state_of(tmp_path, pid, *history, erased) is ConsentState.ERASED
    # Nothing submitted after a whole withdrawal counts: the consent service refuses it.
    late = (*history, submitted(pid, uuid4()))
    assert await state_of(tmp_path, pid, *late) is ConsentState.WITHDRAWN
