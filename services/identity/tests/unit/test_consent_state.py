"""The read model of consents in force (docs/adr/0019), fed as the embedded feed feeds it: which
purposes a participant's consent allows on a given day, from consent's published events."""

from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

from bilet.contracts import EventMetadata, encode
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentRejected,
    ConsentVerified,
    ConsentWithdrawn,
    ErasureReason,
    ParticipantErased,
    Purpose,
    RejectionReason,
)
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections import EmbeddedFeed
from bilet.projections.sqlite import SqliteReadModel
from bilet_identity.application.consent_state import (
    HEALTH_DATA,
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
    consent = InMemoryEventStore()
    for event in events:
        stream_id = f"consent-{event.participant_id}"
        await consent.append(stream_id, [encode(event, EventMetadata(actor="consent"))])
    read_model = await SqliteReadModel.open(tmp_path / f"{uuid4()}.sqlite3")
    try:
        await EmbeddedFeed(read_model, ConsentStateProjection(), {"consent": consent}).catch_up({})
        return await ConsentStates(read_model).purposes_in_force(pid, on)
    finally:
        await read_model.close()


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
