"""After the consent service erased a participant: identity purges their reservation and profile
(by `ParticipantErased`, through the projection that the embedded feed and the worker run), and
the child can be registered again."""

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import pytest

from bilet.audit import Access, InMemoryAuditLog
from bilet.contracts import EventMetadata, encode
from bilet.contracts.catalogue.consent import ErasureReason, ParticipantErased
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http import Role
from bilet.projections import EmbeddedFeed
from bilet.projections.sqlite import SqliteReadModel
from bilet_identity.application import streams
from bilet_identity.application.consent_feed import ConsentFeedProjection
from bilet_identity.application.errors import DuplicateRefused
from bilet_identity.application.inputs import CorrectionInput, PupilInput
from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.application.service import IdentityService
from bilet_identity.domain import profile as profiles
from bilet_identity.domain import reservation as reservations
from bilet_identity.domain.people import parse_snils
from bilet_identity.domain.snils import generate as generate_snils

if TYPE_CHECKING:
    from services.identity.tests.conftest import World

SECRET = b"s" * 32
PUPIL = PupilInput(
    last_name="Соколова",
    first_name="Дарья",
    middle_name="Андреевна",
    birth_date=date(2007, 4, 12),
    snils="112-233-445 95",
    grade=7,
)


@pytest.fixture
async def service(seed_world: Callable[[IdentityService], Awaitable[None]]) -> IdentityService:
    identity = IdentityService(
        InMemoryEventStore(),
        FieldCipher(InMemoryKeyStore()),
        InMemoryAuditLog(),
        Pseudonymiser(SECRET),
        today=lambda: date(2019, 10, 1),
    )
    await seed_world(identity)
    return identity


def erased_event(participant_id: UUID) -> ParticipantErased:
    return ParticipantErased(
        participant_id=participant_id,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2019, 11, 1, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )


async def consent_store_with_erasure(participant_id: UUID) -> InMemoryEventStore:
    """The consent service's store as identity's embedded feed reads it."""
    consent = InMemoryEventStore()
    event = erased_event(participant_id)
    await consent.append(
        f"consent-{participant_id}", [encode(event, EventMetadata(actor="consent-job"))]
    )
    return consent


async def feed_erasures(service: IdentityService, consent: InMemoryEventStore, tmp: Path) -> None:
    read_model = await SqliteReadModel.open(tmp / "identity-readmodel.sqlite3")
    try:
        projection = ConsentFeedProjection(service.release_erased)
        await EmbeddedFeed(read_model, projection, {"consent": consent}).catch_up({})
    finally:
        await read_model.close()


def reservation_key(snils: str) -> str:
    return Pseudonymiser(SECRET).reservation_key(parse_snils(snils))


async def stored_text(service: IdentityService) -> bytes:
    events = await service.store.read_all(limit=100_000)
    return b"".join(e.stream_id.encode() + e.data for e in events)


async def test_an_erasure_by_consent_forgets_the_reservation_and_the_child_comes_back(
    service: IdentityService, world: "World", tmp_path: Path
) -> None:
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    first = await service.register_participant(registrar, world.school_3, PUPIL)
    assert first.id is not None
    key = reservation_key(PUPIL.snils)
    assert key.encode() in await stored_text(service)
    with pytest.raises(DuplicateRefused):
        await service.register_participant(registrar, world.school_3, PUPIL)

    await feed_erasures(service, await consent_store_with_erasure(first.id), tmp_path)

    assert await service.store.stream_version(reservations.stream_id(key)) is None
    assert await service.store.stream_version(profiles.stream_id(first.id)) is None
    assert key.encode() not in await stored_text(service)
    assert str(first.id).encode() in await stored_text(service), "the published stream stays"
    assert isinstance(service.audit, InMemoryAuditLog)
    released = [r for r in service.audit.records if r.purpose == "release_reservation"]
    assert [(r.access, r.subject) for r in released] == [(Access.ERASE, str(first.id))]

    again = await service.register_participant(registrar, world.school_3, PUPIL)
    assert again.id is not None
    assert again.id != first.id
    assert await service.store.stream_version(reservations.stream_id(key)) == 0


async def test_an_erasure_delivered_again_purges_nothing_more_and_keeps_the_new_registration(
    service: IdentityService, world: "World", tmp_path: Path
) -> None:
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    first = await service.register_participant(registrar, world.school_3, PUPIL)
    assert first.id is not None
    assert await service.release_erased(first.id) is True
    again = await service.register_participant(registrar, world.school_3, PUPIL)
    # A duplicate of the erasure, or a replay of consent's history from the start.
    assert await service.release_erased(first.id) is False
    await feed_erasures(service, await consent_store_with_erasure(first.id), tmp_path)
    key = reservation_key(PUPIL.snils)
    state = await service.transactor.attempt().state(streams.reservation(key))
    assert state is not None
    assert state.holder == again.id
    assert again.id is not None
    assert await service.store.stream_version(profiles.stream_id(again.id)) is not None


async def test_a_reservation_given_to_another_child_after_a_correction_is_kept(
    service: IdentityService, world: "World"
) -> None:
    """The erased child's СНИЛС was corrected away, and the old number was then registered for
    another child: that child's reservation is theirs, and stays."""
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    erased = await service.register_participant(registrar, world.school_3, PUPIL)
    assert erased.id is not None
    corrected = generate_snils(random.Random(3)).digits
    await service.correct_participant(registrar, erased.id, CorrectionInput(snils=corrected))
    other = await service.register_participant(
        registrar,
        world.school_3,
        PupilInput(**{**vars(PUPIL), "first_name": "Мария", "snils": PUPIL.snils}),
    )
    assert other.id is not None

    assert await service.release_erased(erased.id) is True

    old_key, new_key = reservation_key(PUPIL.snils), reservation_key(corrected)
    assert await service.store.stream_version(reservations.stream_id(new_key)) is None
    assert await service.store.stream_version(reservations.stream_id(old_key)) is not None
    with pytest.raises(DuplicateRefused):
        await service.register_participant(
            registrar,
            world.school_3,
            PupilInput(**{**vars(PUPIL), "first_name": "Мария"}),
        )
