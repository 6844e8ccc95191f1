"""What every group of the career events use cases stands on: the store and its command path
(`Transactor`), the read side (`facts.Facts`: other services' facts; `facts.Catalogue`: the
service's own career events as listed), the key store, the audit trail and the clock."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from bilet.application import Attempt, Transactor
from bilet.audit import AuditLog
from bilet.crypto import FieldCipher, KeyStore
from bilet.eventstore import EventStore
from bilet_events.application import access
from bilet_events.application.errors import UnknownParticipant, VersionConflict
from bilet_events.application.eventlog import EVENT_LOG
from bilet_events.application.facts import Catalogue, Facts, Pupil
from bilet_events.application.inputs import CommandContext
from bilet_events.application.streams import career_event_of
from bilet_events.domain.career_event import CareerEvent
from bilet_events.domain.errors import UnknownCareerEvent

Clock = Callable[[], datetime]
# Until when before a session starts a booking may be cancelled, unless configured.
DEFAULT_CANCELLATION_NOTICE: Final = timedelta(hours=24)
# How many times a decision (for bookings: a whole combined batch, docs/adr/0035) is taken again
# after meeting another writer: a popular career event's stream is written by every process that
# books on it, so more than the kernel's default 8.
DECISION_ATTEMPTS: Final = 64
# How long a season's maximum of career events, read from the facts, is used again: a combined
# batch decides many bookings one after another, and one read-model query each would serialise
# them; season rules change a few times a year and the read model lags as much anyway.
SEASON_MAXIMUM_SECONDS: Final = 2.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventsCore:
    def __init__(
        self,
        store: EventStore,
        keystore: KeyStore,
        facts: Facts,
        catalogue: Catalogue,
        audit: AuditLog,
        *,
        clock: Clock = utc_now,
        cancellation_notice: timedelta = DEFAULT_CANCELLATION_NOTICE,
    ) -> None:
        self.store = store
        self.keystore = keystore
        self.cipher = FieldCipher(keystore)
        self.facts = facts
        self.listings = catalogue  # (`catalogue` is the query use case's name)
        self.audit = audit
        self.clock = clock
        self.cancellation_notice = cancellation_notice
        self.transactor = Transactor(
            store, self.cipher, EVENT_LOG, VersionConflict, attempts=DECISION_ATTEMPTS
        )
        self._season_maximum: dict[int, tuple[float, int | None]] = {}

    async def season_maximum(self, season: int) -> int | None:
        """The season's maximum of career events per participant (None: no rules), as the facts
        said at most `SEASON_MAXIMUM_SECONDS` ago."""
        now = time.monotonic()
        known = self._season_maximum.get(season)
        if known is not None and now - known[0] < SEASON_MAXIMUM_SECONDS:
            return known[1]
        maximum = await self.facts.max_career_events(season)
        self._season_maximum[season] = (now, maximum)
        return maximum

    async def pupil(self, ctx: CommandContext, participant_id: UUID) -> Pupil:
        """The participant's facts today, when the caller may book for them (else: unknown; an
        erased participant is unknown too)."""
        found = await self.facts.pupil(participant_id, self.clock().date())
        if found is None or found.erased or not access.may_book_for(ctx.principal, found):
            raise UnknownParticipant()
        return found

    @staticmethod
    async def published(reads: Attempt, career_event_id: UUID) -> CareerEvent:
        """The career event as published (read at its version), else unknown."""
        state = await reads.state(career_event_of(career_event_id))
        if state.published is None:
            raise UnknownCareerEvent()
        return state
