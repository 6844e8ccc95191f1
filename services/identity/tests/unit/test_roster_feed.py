"""The school roster fed by its own process's commits (docs/adr/0081): a registration's events
are applied as committed, not read back by the next registration; what another process commits
in between is still read from the store, so a child typed twice is still told apart. Real SQLite
stores on a temporary file (two services on one file stand for two processes)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from bilet.audit import EventStoreAuditLog
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import START, RecordedEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.http import Role
from bilet_identity.application.errors import DuplicateRefused
from bilet_identity.application.inputs import CommandContext, Committed, PupilInput
from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.application.roster import RosterView
from bilet_identity.application.service import IdentityService
from bilet_identity.domain.errors import SameChildOtherSnils
from bilet_identity.domain.internal import SurnameIndexed

if TYPE_CHECKING:
    from services.identity.tests.conftest import World

PSEUDONYM_KEY = b"p" * 32
Seed = Callable[[IdentityService], Awaitable[None]]


class ReadCountingStore(SqliteEventStore):
    """The SQLite adapter, counting its reads of all events and the events they returned.
    `hold`: the next read, once it has read, waits for this event (set `reading` first)."""

    events_read = 0
    reads = 0
    hold: asyncio.Event | None = None
    reading: asyncio.Event | None = None

    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        page = await super().read_all(
            after_position, limit, categories=categories, event_types=event_types
        )
        self.events_read += len(page)
        self.reads += 1
        if self.hold is not None and self.reading is not None:
            hold, self.hold = self.hold, None
            self.reading.set()
            await hold.wait()
        return page


class FlushedAuditLog(EventStoreAuditLog):
    """The trail in the store, which a test can wait for: no batch of it still to append."""

    async def flush(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)


def pupil(last_name: str, snils: str) -> PupilInput:
    return PupilInput(
        last_name=last_name,
        first_name="Дарья",
        middle_name="Андреевна",
        birth_date=date(2007, 4, 12),
        snils=snils,
        grade=7,
    )


async def service_on(store: SqliteEventStore) -> IdentityService:
    return IdentityService(
        store,
        FieldCipher(InMemoryKeyStore()),
        FlushedAuditLog(store),
        Pseudonymiser(PSEUDONYM_KEY),
        today=lambda: date(2019, 10, 1),
    )


def roster_ids(service: IdentityService, school: UUID) -> list[UUID]:
    return [entry.participant.participant_id for entry in service.roster.pupils_of(school)]


@dataclass(frozen=True)
class Registering:
    """A service on a fresh SQLite file with the world seeded, its registrar, and the first
    pupil registered (Соколова)."""

    store: ReadCountingStore
    service: IdentityService
    registrar: CommandContext
    first: Committed


@pytest.fixture
async def registering(
    tmp_path: Path, seed_world: Seed, world: "World"
) -> AsyncIterator[Registering]:
    store = await ReadCountingStore.open(tmp_path / "identity.sqlite3")
    assert isinstance(store, ReadCountingStore)
    try:
        service = await service_on(store)
        await seed_world(service)
        registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
        first = await service.register_participant(
            registrar, world.school_3, pupil("Соколова", "112-233-445 95")
        )
        yield Registering(store, service, registrar, first)
    finally:
        await store.close()


async def test_a_registration_is_in_the_roster_without_being_read_back(
    registering: Registering, world: "World"
) -> None:
    store, service, first = registering.store, registering.service, registering.first
    # No batch of the trail still in flight, which would append between the next
    # registration's catch-up and its commit (and so be read back, rightly).
    assert isinstance(service.audit, FlushedAuditLog)
    await service.audit.flush()
    read_before = store.events_read
    second = await service.register_participant(
        registering.registrar, world.school_3, pupil("Смирнова", "348-714-781 14")
    )
    await service.roster.refresh()
    assert roster_ids(service, world.school_3) == [first.id, second.id]
    assert store.events_read == read_before  # applied as committed: nothing read back


async def test_another_process_s_registration_in_between_is_read_and_guards_a_twin(
    tmp_path: Path, seed_world: Seed, world: "World"
) -> None:
    path = tmp_path / "identity.sqlite3"
    store = await SqliteEventStore.open(path)
    other_store = await SqliteEventStore.open(path)
    try:
        service = await service_on(store)
        other_process = await service_on(other_store)
        await seed_world(service)
        registrar = world.context(Role.REGISTRAR, school_id=str(world.school_3))
        first = await service.register_participant(
            registrar, world.school_3, pupil("Соколова", "112-233-445 95")
        )
        theirs: list[Committed] = []
        refresh = service.roster.refresh

        async def refresh_then_they_register() -> None:
            await refresh()
            if not theirs:  # between this registration's catch-up and its commit
                theirs.append(
                    await other_process.register_participant(
                        registrar, world.school_3, pupil("Иванова", "162-975-068 99")
                    )
                )

        service.roster.refresh = refresh_then_they_register  # type: ignore[method-assign]
        last = await service.register_participant(
            registrar, world.school_3, pupil("Смирнова", "348-714-781 14")
        )
        service.roster.refresh = refresh  # type: ignore[method-assign]
        assert theirs
        await service.roster.refresh()
        assert roster_ids(service, world.school_3) == [first.id, theirs[0].id, last.id]
        # Their pupil typed again under another СНИЛС: sent to a review, as any twin.
        with pytest.raises(DuplicateRefused) as refused:
            await service.register_participant(
                registrar, world.school_3, pupil("Иванова", "424-940-498 91")
            )
        assert refused.value.code == SameChildOtherSnils.code
    finally:
        await other_store.close()
        await store.close()


async def test_a_commit_the_roster_fails_to_apply_is_read_again_whole(
    registering: Registering, world: "World", monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should applying its own commit fail half-way, the registration stands (the commit is
    durable) and the roster starts over: the next refresh reads everything, as a fresh one."""
    service, first = registering.service, registering.first
    apply = service.roster._apply
    failed: list[object] = []

    def apply_failing_once(event: object, position: int) -> None:
        if isinstance(event, SurnameIndexed) and not failed:
            failed.append(event)  # after the registration itself was applied
            raise RuntimeError("a bug of the roster")
        apply(event, position)

    monkeypatch.setattr(service.roster, "_apply", apply_failing_once)
    second = await service.register_participant(
        registering.registrar, world.school_3, pupil("Смирнова", "348-714-781 14")
    )
    assert failed
    await service.roster.refresh()
    fresh = RosterView(registering.store)
    await fresh.refresh()
    assert roster_ids(service, world.school_3) == [first.id, second.id]
    assert service.roster.pupils_of(world.school_3) == fresh.pupils_of(world.school_3)
    assert service.roster.unindexed() == fresh.unindexed() == []


async def test_a_forgotten_pupil_stays_forgotten_whatever_a_read_still_gives(
    registering: Registering, world: "World"
) -> None:
    """`forget` holds against a read that still finds the erased pupil's profile (its snapshot
    predates the purge): their surname's index does not come back."""
    erased = registering.first
    assert erased.id is not None
    roster = RosterView(registering.store)  # nothing read yet: its catch-up reads the profile
    roster.forget(erased.id)
    await roster.refresh()
    assert roster.unindexed() == [erased.id]
    assert [entry.participant.participant_id for entry in roster.pupils_of(world.school_3)] == [
        erased.id  # still listed, as erased: their name cannot be opened
    ]


async def test_refreshes_waiting_for_a_read_share_the_next_one_which_sees_what_came_between(
    registering: Registering, world: "World"
) -> None:
    """A refresh that waited while another read was under way reads again (that read may have
    begun before a commit it must see); the refreshes that waited with it share its read
    (docs/adr/0099)."""
    store, service, first = registering.store, registering.service, registering.first
    roster = RosterView(store)  # another view on the store: the service's own refreshes its own
    store.hold, store.reading = asyncio.Event(), asyncio.Event()
    hold = store.hold
    under_way = asyncio.create_task(roster.refresh())
    await store.reading.wait()  # its read is done, before the next registration
    second = await service.register_participant(
        registering.registrar, world.school_3, pupil("Смирнова", "348-714-781 14")
    )
    waiting = [asyncio.create_task(roster.refresh()) for _ in range(3)]
    reads = store.reads
    hold.set()
    await asyncio.gather(under_way, *waiting)
    assert store.reads == reads + 1  # one read for the three that waited
    found = [entry.participant.participant_id for entry in roster.pupils_of(world.school_3)]
    assert found == [first.id, second.id]
