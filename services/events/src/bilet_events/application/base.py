"""What every group of the career events use cases stands on: the store and its command path
(`Transactor`), the read side (`facts.Facts`: other services' facts; `facts.Catalogue`: the
service's own career events as listed), the key store, the audit trail and the clock."""

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
# Every booking of a career event appends to its one stream at the version read, so N pupils
# racing on it commit one per round: a popular session needs as many rounds as racers, far more
# than the kernel's default 8 tries (docs/adr/0030 on what would scale further).
DECISION_ATTEMPTS: Final = 64


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
