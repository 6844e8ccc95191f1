"""What every group of consent's use cases stands on: the store and its command path
(`Transactor`), the key-sealed fields and documents (rebuilt from their pixels first by the
disarmer), identity's facts of each participant, the audit trail, the clock; and reading the
participant's streams."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Final
from uuid import UUID

from bilet.application import Attempt, Fold, Ids, Stream, Transactor, random_ids
from bilet.audit import AuditLog
from bilet.contracts import unseal
from bilet.contracts.catalogue.consent import ConsentSubmitted
from bilet.crypto import FieldCipher, KeyStore
from bilet.eventstore import EventStore
from bilet.http.auth import Role
from bilet_consent.application.access import OutOfScope
from bilet_consent.application.documents import DocumentDisarmer, DocumentSealer, DocumentStore
from bilet_consent.application.errors import UnknownParticipant, VersionConflict
from bilet_consent.application.eventlog import EVENT_LOG
from bilet_consent.application.inputs import CommandContext
from bilet_consent.application.participants import IDENTITY, ParticipantDirectory, ParticipantFacts
from bilet_consent.domain import consent as consents
from bilet_consent.domain.consent import ParticipantConsents
from bilet_consent.domain.errors import DomainError, UnknownConsent
from bilet_consent.domain.internal import (
    FEDERAL_OPERATOR,
    FILE_CATEGORY,
    REF_CATEGORY,
    ConsentRegistered,
    GuardianContactRecorded,
)

WAIT_FOR_IDENTITY: Final = 2.0  # seconds a command waits for a participant identity just wrote


def consents_of(participant_id: UUID) -> Fold[ParticipantConsents]:
    """The participant's consent stream (published) and its decider's fold."""
    return Fold(
        consents.stream_id(participant_id), consents.initial(participant_id), consents.evolve
    )


def file_of(participant_id: UUID) -> str:
    """The participant's internal file: where documents are stored, contacts, written requests."""
    return f"{FILE_CATEGORY}-{participant_id}"


def ref_of(consent_id: UUID) -> str:
    """A consent's reference to its participant (internal)."""
    return f"{REF_CATEGORY}-{consent_id}"


@contextmanager
def unknown_if_out_of_scope(error: Callable[[], DomainError]) -> Iterator[None]:
    """A participant that is not the caller's is answered like one that does not exist."""
    try:
        yield
    except OutOfScope:
        raise error() from None


class ConsentCore:
    def __init__(
        self,
        store: EventStore,
        keystore: KeyStore,
        documents: DocumentStore,
        directory: ParticipantDirectory,
        audit: AuditLog,
        *,
        disarmer: DocumentDisarmer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ids: Ids = random_ids,
        erasure_days: int = 30,
        max_document_bytes: int = 10 << 20,
        wait_timeout: float = WAIT_FOR_IDENTITY,
        operator: str = FEDERAL_OPERATOR,
    ) -> None:
        self.store = store
        self.keystore = keystore
        self.cipher = FieldCipher(keystore)
        self.sealer = DocumentSealer(keystore)
        self.documents = documents
        self.disarmer = disarmer
        self.directory = directory
        self.audit = audit
        self.clock = clock
        self.ids = ids  # a new consent's, its document's and guardian's ids
        self.erasure_days = erasure_days
        self.max_document_bytes = max_document_bytes
        self.wait_timeout = wait_timeout
        self.operator = operator
        self.transactor = Transactor(store, self.cipher, EVENT_LOG, VersionConflict)

    def today(self) -> date:
        return self.clock().date()

    async def facts(self, ctx: CommandContext, participant_id: UUID) -> ParticipantFacts:
        """The participant's school and region; waits (bounded) for identity's events when the
        request carries identity's position token and they have not arrived yet (a
        registration, a move, a merge the caller just made: docs/adr/0050)."""
        for token in (t for t in ctx.tokens if t.source == IDENTITY):
            await self.directory.wait_for(
                IDENTITY, token.position, self.wait_timeout, token.stream_id
            )
        facts = await self.directory.find(participant_id)
        if facts is None or not facts.registered:
            if ctx.principal.role is Role.OPERATOR and facts is not None:
                return facts  # erased before identity's facts arrived: the operator still sees
            raise UnknownParticipant()
        return facts

    async def participant_of(self, consent_id: UUID) -> UUID:
        ref = await EVENT_LOG.read(self.store, ref_of(consent_id))
        for event in ref.events:
            if isinstance(event, ConsentRegistered):
                return event.participant_id
        raise UnknownConsent()

    async def _participant_and_facts(
        self, ctx: CommandContext, consent_id: UUID
    ) -> tuple[UUID, ParticipantFacts]:
        participant_id = await self.participant_of(consent_id)
        return participant_id, await self.facts(ctx, participant_id)

    async def _signer(
        self, stream: Stream, consent_id: UUID
    ) -> tuple[dict[str, object], ConsentSubmitted]:
        submitted = next(
            e
            for e in stream.events
            if isinstance(e, ConsentSubmitted) and e.consent_id == consent_id
        )
        return await unseal(self.cipher, submitted), submitted

    async def _contact(self, reads: Attempt, participant_id: UUID, consent_id: UUID) -> object:
        file = await reads.read(file_of(participant_id))
        for event in file.events:
            if isinstance(event, GuardianContactRecorded) and event.consent_id == consent_id:
                return (await unseal(self.cipher, event))["guardian_contact"]
        return {"phone": None, "email": None}
