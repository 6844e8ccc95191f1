"""The use cases with in-memory adapters (real classes, not mocks): the whole application layer
runs without files or servers."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING

import pytest

from bilet.audit import Access, InMemoryAuditLog
from bilet.contracts.catalogue.consent import Relationship
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import RecordedEvent, category_of
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http import Role
from bilet_identity.application.errors import AccessDenied, DuplicateRefused, ParticipantErasedError
from bilet_identity.application.inputs import CorrectionInput, PupilInput
from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.application.service import IdentityService
from bilet_identity.domain.errors import ParticipantExists, UnknownParticipant, UnknownSeason

if TYPE_CHECKING:
    from services.identity.tests.conftest import World

PUPIL = PupilInput(
    last_name="Соколова",
    first_name="Дарья",
    middle_name="Андреевна",
    birth_date=date(2007, 4, 12),
    snils="112-233-445 95",
    grade=7,
)


def identity_on(store: InMemoryEventStore) -> IdentityService:
    return IdentityService(
        store,
        FieldCipher(InMemoryKeyStore()),
        InMemoryAuditLog(),
        Pseudonymiser(b"s" * 32),
        today=lambda: date(2019, 10, 1),
    )


@pytest.fixture
async def service(
    seed_world: Callable[[IdentityService], Awaitable[None]],
) -> IdentityService:
    identity = identity_on(InMemoryEventStore())
    await seed_world(identity)
    return identity


def audit_of(service: IdentityService) -> list[tuple[Access, str, tuple[str, ...]]]:
    assert isinstance(service.audit, InMemoryAuditLog)
    return [(r.access, r.purpose, r.fields) for r in service.audit.records]


async def test_the_running_season_is_the_default(service: IdentityService, world: "World") -> None:
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    registered = await service.register_participant(registrar, world.school_3, PUPIL)
    assert registered.id is not None
    view = await service.participant(registrar, registered.id)
    assert view.participant.season == 2019


async def test_parallel_registrations_of_one_child_make_one_profile(
    service: IdentityService, world: "World"
) -> None:
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    results = await asyncio.gather(
        *(service.register_participant(registrar, world.school_3, PUPIL) for _ in range(20)),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, DuplicateRefused)]
    assert (len(created), len(refused)) == (1, 19)
    assert {r.existing for r in refused} == {created[0].id}


async def test_a_corrected_name_is_the_childs_name_from_then_on(
    service: IdentityService, world: "World"
) -> None:
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    first = await service.register_participant(registrar, world.school_3, PUPIL)
    assert first.id is not None
    await service.correct_participant(registrar, first.id, CorrectionInput(last_name="Громова"))
    with pytest.raises(DuplicateRefused) as same_child:
        await service.register_participant(
            registrar,
            world.school_3,
            PupilInput(**{**PUPIL.__dict__, "last_name": "ГРОМОВА"}),
        )
    assert same_child.value.code == "duplicate_participant"
    with pytest.raises(DuplicateRefused) as old_name:
        await service.register_participant(registrar, world.school_3, PUPIL)
    assert old_name.value.code == "duplicate_needs_review"
    identifying = ("full_name", "birth_date", "snils", "health_limitations", "accessibility_needs")
    assert audit_of(service) == [
        (Access.WRITE, "register_participant", (*identifying, "citizenship", "home_schooled")),
        (Access.READ, "correct_participant", identifying),
        (Access.WRITE, "correct_participant", ("full_name",)),
    ]


async def test_enrolment_reads_the_sealed_citizenship_and_audits_it(
    service: IdentityService, world: "World"
) -> None:
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    registered = await service.register_participant(registrar, world.school_3, PUPIL)
    assert registered.id is not None
    with pytest.raises(UnknownSeason):
        await service.enrol_participant(registrar, registered.id, season=2020, grade=8)
    assert audit_of(service)[-1] == (Access.READ, "enrol_participant", ("citizenship",))


async def test_explicit_ids_are_never_reused(service: IdentityService, world: "World") -> None:
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    registered = await service.register_participant(registrar, world.school_3, PUPIL)
    assert registered.id is not None
    other = PupilInput(**{**PUPIL.__dict__, "snils": "141-008-407 99"})
    with pytest.raises(ParticipantExists):
        await service.register_participant(registrar, world.school_3, other, registered.id)


async def test_object_level_checks_in_the_application(
    service: IdentityService, world: "World"
) -> None:
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    registered = await service.register_participant(registrar, world.school_3, PUPIL)
    assert registered.id is not None
    other_school = world.context(Role.REGISTRAR, school_id=str(world.school_5))
    coordinator_elsewhere = world.context(Role.COORDINATOR, region_id=str(world.spb))
    for attempt in (
        service.register_school(coordinator_elsewhere, world.leningrad, name="X", municipality="Y"),
        service.duplicate_reviews(registrar),
        service.correct_participant(
            world.context(Role.NAVIGATOR, school_id=str(world.school_3)),
            registered.id,
            CorrectionInput(grade=8),
        ),
    ):
        with pytest.raises(AccessDenied):
            await attempt
    # Someone else's participant is answered as one that does not exist.
    for attempt in (
        service.correct_participant(other_school, registered.id, CorrectionInput(grade=8)),
        service.link_guardian(other_school, registered.id, world.school_3, Relationship.PARENT),
        service.move_participant(coordinator_elsewhere, registered.id, world.spb_school),
    ):
        with pytest.raises(UnknownParticipant):
            await attempt
    coordinator = world.context(Role.COORDINATOR, region_id=str(world.leningrad))
    moved = await service.move_participant(coordinator, registered.id, world.school_5)
    assert moved.version == 1
    with pytest.raises(UnknownParticipant):
        await service.participant(registrar, world.school_3)


class ReadsCounted(InMemoryEventStore):
    """The in-memory store, noting which streams were read whole (`read_stream`)."""

    def __init__(self) -> None:
        super().__init__()
        self.streams_read: list[str] = []

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        self.streams_read.append(stream_id)
        return await super().read_stream(stream_id, from_version, backwards=backwards, limit=limit)


async def test_a_grade_correction_reads_only_the_participant_and_keeps_the_reservation(
    seed_world: Callable[[IdentityService], Awaitable[None]], world: "World"
) -> None:
    store = ReadsCounted()
    service = identity_on(store)
    await seed_world(service)
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    registered = await service.register_participant(registrar, world.school_3, PUPIL)
    assert registered.id is not None
    store.streams_read.clear()
    for grade in (8, 7, 8):
        corrected = await service.correct_participant(
            registrar, registered.id, CorrectionInput(grade=grade)
        )
        assert corrected.version is not None
    # Neither the profile nor the reservation: nothing of theirs changes with a grade.
    assert {category_of(stream) for stream in store.streams_read} == {"participant"}
    view = await service.participant(registrar, registered.id)
    assert view.participant.grade == 8
    # The child still holds their reservation: the same child again is refused.
    with pytest.raises(DuplicateRefused) as again:
        await service.register_participant(registrar, world.school_3, PUPIL)
    assert again.value.code == "duplicate_participant"
    # A corrected birth date still moves the person key: the old one is now another child's.
    await service.correct_participant(
        registrar, registered.id, CorrectionInput(birth_date=date(2007, 4, 13))
    )
    with pytest.raises(DuplicateRefused) as old_birth_date:
        await service.register_participant(registrar, world.school_3, PUPIL)
    assert old_birth_date.value.code == "duplicate_needs_review"


async def test_a_correction_before_this_process_learns_of_an_erasure_reserves_nothing_again(
    service: IdentityService, world: "World"
) -> None:
    # Given: a child erased elsewhere — the worker has purged their profile and reservation —
    # while this process's cipher still holds their key (it learns of an erasure within a second)
    registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
    registered = await service.register_participant(registrar, world.school_3, PUPIL)
    assert registered.id is not None
    store = service.store

    async def streams_of(*categories: str) -> set[str]:
        records = await store.read_all(limit=10_000)
        return {r.stream_id for r in records if category_of(r.stream_id) in categories}

    purged = await streams_of("profile", "reservation")
    assert {category_of(stream) for stream in purged} == {"profile", "reservation"}
    store.allow_purging({"profile", "reservation"})  # as the erasure's release does
    for stream in purged:
        await store.purge_stream(stream)

    # When: a correction that would move the reservation (a surname, a СНИЛС)
    for correction in (
        CorrectionInput(last_name="Громова"),
        CorrectionInput(snils="141-008-407 99"),
    ):
        with pytest.raises(ParticipantErasedError):
            await service.correct_participant(registrar, registered.id, correction)

    # Then: the child's keys are not reserved again on a stream nothing would purge again
    assert await streams_of("profile", "reservation") == set()
