"""The projection of participants' facts and their destruction schedule, fed from a real event
store into a real SQLite read model, as the embedded feed does."""

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from bilet.contracts import DomainEvent, EventMetadata, encode
from bilet.contracts.catalogue.consent import ConsentVerified, ConsentWithdrawn, Purpose
from bilet.eventstore import ANY
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections import EmbeddedFeed
from bilet.projections.sqlite import SqliteReadModel
from bilet_consent.application.participants import (
    ParticipantDirectory,
    ParticipantFactsProjection,
)

TODAY = date(2019, 9, 20)


class Schedule:
    def __init__(self, read_model: SqliteReadModel) -> None:
        self.store = InMemoryEventStore()
        self.feed = EmbeddedFeed(read_model, ParticipantFactsProjection(), {"consent": self.store})
        self.directory = ParticipantDirectory(read_model)

    async def given(self, *events: DomainEvent) -> None:
        for event in events:
            await self.store.append(event.stream_id, [encode(event, EventMetadata())], ANY)
        await self.feed.catch_up({})

    async def erase_by(self, participant_id: UUID) -> date | None:
        facts = await self.directory.find(participant_id)
        assert facts is not None
        return facts.erase_by


@pytest.fixture
async def schedule(tmp_path: Path) -> AsyncIterator[Schedule]:
    read_model = await SqliteReadModel.open(tmp_path / "consent-readmodel.sqlite3")
    try:
        yield Schedule(read_model)
    finally:
        await read_model.close()


def _withdrawn(participant_id: UUID, on: date) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        participant_id=participant_id,
        consent_id=uuid4(),
        withdrawn_on=on,
        erase_by=on + timedelta(days=30),
    )


def _verified(participant_id: UUID, valid_until: date) -> ConsentVerified:
    return ConsentVerified(
        participant_id=participant_id,
        consent_id=uuid4(),
        purposes=(Purpose.PROGRAMME_PARTICIPATION,),
        valid_until=valid_until,
    )


async def test_a_later_withdrawal_never_postpones_the_destruction(schedule: Schedule) -> None:
    # Given a withdrawal today (destruction on 20 October),
    pupil = uuid4()
    await schedule.given(_withdrawn(pupil, TODAY))
    # when a later one arrives (an older release's second withdrawal, a replay, a duplicate),
    await schedule.given(_withdrawn(pupil, TODAY + timedelta(days=25)))
    # then the destruction stays on the earliest date, and is due then.
    assert await schedule.erase_by(pupil) == date(2019, 10, 20)
    assert await schedule.directory.due_for_erasure(date(2019, 10, 20), 30) == [pupil]


async def test_an_earlier_destruction_date_wins_whatever_the_order(schedule: Schedule) -> None:
    pupil = uuid4()
    await schedule.given(_withdrawn(pupil, TODAY + timedelta(days=5)), _withdrawn(pupil, TODAY))
    assert await schedule.erase_by(pupil) == date(2019, 10, 20)


async def test_a_consent_that_ended_is_due_after_the_erasure_days(schedule: Schedule) -> None:
    # Given one pupil whose verified consent ends on 31 August 2020, and one renewed to 2021,
    ended, renewed = uuid4(), uuid4()
    await schedule.given(
        _verified(ended, date(2020, 8, 31)),
        _verified(renewed, date(2020, 8, 31)),
        _verified(renewed, date(2021, 8, 31)),
    )
    # then the first is due 30 days after its last day, the second is not,
    assert await schedule.directory.due_for_erasure(date(2020, 9, 29), 30) == []
    assert await schedule.directory.due_for_erasure(date(2020, 9, 30), 30) == [ended]
    # and it counts as overdue from the next day on.
    assert await schedule.directory.overdue_erasures(date(2020, 9, 30), 30) == 0
    assert await schedule.directory.overdue_erasures(date(2020, 10, 1), 30) == 1


async def test_a_withdrawal_replaces_the_schedule_on_expiry(schedule: Schedule) -> None:
    pupil = uuid4()
    await schedule.given(_verified(pupil, date(2020, 8, 31)), _withdrawn(pupil, TODAY))
    assert await schedule.directory.due_for_erasure(date(2019, 10, 20), 30) == [pupil]
    # Once erased-on-withdrawal is the plan, the consent's end adds nothing of its own.
    assert await schedule.directory.overdue_erasures(date(2030, 1, 1), 30) == 1
