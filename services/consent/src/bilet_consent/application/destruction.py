"""Destruction of a participant's data when it is due (a withdrawal's date, or the end of a consent
not renewed): the participant key and every generation of the health key, the documents, then the
record of it; and the job that finds who is due. Also the destruction of health data alone, at
once, when only the consent to process it is withdrawn: the health key's generation in force
(`destroy_health_data`, docs/adr/0017, 0026)."""

import logging
import uuid
from datetime import date, datetime
from typing import Final
from uuid import UUID

from bilet.application import Attempt
from bilet.audit import Access
from bilet.contracts import health_key_subject, health_key_subjects
from bilet.contracts.catalogue.consent import ConsentPurposesWithdrawn, ErasureReason
from bilet.crypto import FieldCipher
from bilet.eventstore import NO_STREAM
from bilet.http.auth import Principal, Role
from bilet_consent.application.base import ConsentCore, consents_of
from bilet_consent.application.errors import VersionConflict
from bilet_consent.application.eventlog import EVENT_LOG
from bilet_consent.application.inputs import CommandContext, ErasureOutcome, ErasureReport
from bilet_consent.domain import consent as consents
from bilet_consent.domain.consent import DESTRUCTION_NAMESPACE, EraseParticipant
from bilet_consent.domain.errors import ErasureNotDue
from bilet_consent.domain.internal import DestructionRecorded

_log = logging.getLogger(__name__)

DESTROYED_CATEGORIES: Final = (
    "participant_personal_data",  # what identity sealed: ФИО, date of birth, СНИЛС …
    "participant_health_data",  # … and sealed with the health key: ОВЗ, accessibility needs
    "guardian_full_name",
    "guardian_passport",
    "guardian_authority",
    "guardian_contact",
    "consent_documents",
)
DESTRUCTION_METHODS: Final = ("data_key_destroyed", "documents_deleted")
# The information systems the participant's data is destroyed from (the destruction record names
# them): the events identity and consent sealed with the data key, the key store itself, the
# signed documents, and the read models (every service drops what it holds on ParticipantErased).
DESTROYED_FROM: Final = (
    "identity_event_store",
    "consent_event_store",
    "key_store",
    "consent_document_store",
    "read_models",
)


# A withdrawal of the consent to process health data destroys the health key alone: the health
# limitations and accessibility needs identity sealed with it, in every copy of its events.
HEALTH_CATEGORIES: Final = ("participant_health_data",)
HEALTH_METHODS: Final = ("data_key_destroyed",)
HEALTH_DESTROYED_FROM: Final = ("identity_event_store", "key_store", "read_models")


def health_destruction_record_id(participant_id: UUID, consent_id: UUID) -> UUID:
    """The record of one health-only destruction: one per withdrawn consent, so a retry of the
    withdrawal names the same record."""
    return uuid.uuid5(DESTRUCTION_NAMESPACE, f"health-destruction:{participant_id}:{consent_id}")


async def destroy_health_data(
    cipher: FieldCipher,
    attempt: Attempt,
    withdrawal: ConsentPurposesWithdrawn,
    generation: int,
    *,
    now: datetime,
    performed_by: str,
    operator: str,
) -> UUID:
    """Destroy a participant's health data at once (their health key of `generation`, the one
    in force before this withdrawal), for a withdrawal of the `health_data` purpose, and add its
    destruction record to `attempt` (the same commit as the withdrawal). The key goes first:
    whatever then says "destroyed" is true, and a commit that fails after it destroyed only what
    the guardian asked to stop anyway (erasing is idempotent, and a retry decides from the same
    state, so it names the same generation). Returns the record's id."""
    participant_id = withdrawal.participant_id
    await cipher.erase(health_key_subject(participant_id, generation))
    record_id = health_destruction_record_id(participant_id, withdrawal.consent_id)
    record = DestructionRecorded(
        record_id=record_id,
        participant_id=participant_id,
        categories=HEALTH_CATEGORIES,
        methods=HEALTH_METHODS,
        destroyed_at=now,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        consent_id=withdrawal.consent_id,
        withdrawn_on=withdrawal.withdrawn_on,
        documents_deleted=0,
        performed_by=performed_by,
        destroyed_from=HEALTH_DESTROYED_FROM,
        operator=operator,
    )
    attempt.append(f"destruction-{record_id}", [record], NO_STREAM)
    return record_id


class ConsentDestruction(ConsentCore):
    async def erase(self, participant_id: UUID, performed_by: str) -> ErasureOutcome | None:
        """Destroy a participant's data if it is due: the keys first (in the suite's key store:
        the participant key and every generation of the health key),
        the documents next, then the record of it (`ParticipantErased` and the destruction
        record), so that whatever says "erased" is true. Safe to run twice, and on two replicas
        at once: the appends expect the stream's version, and both steps before are idempotent
        (so deciding again after a faster writer repeats nothing harmful). None when there was
        nothing (more) to do."""
        now = self.clock()
        ctx = CommandContext(Principal(subject=performed_by, role=Role.OPERATOR), "erasure")
        record_id = consents.destruction_record_id(participant_id)
        # A retry deletes nothing the first attempt deleted: the record counts every attempt's.
        deleted_before = 0

        async def decide(attempt: Attempt) -> int | None:
            nonlocal deleted_before
            fold = consents_of(participant_id)
            state = await attempt.state(fold)
            try:
                decided = consents.decide(EraseParticipant(now, self.erasure_days), state)
            except ErasureNotDue:
                return None
            if not decided:
                return None
            scheduled = state.erasure(self.erasure_days)
            assert scheduled is not None
            reason = scheduled[1]
            if reason is ErasureReason.CONSENT_WITHDRAWN:
                ground = state.withdrawn_whole()
                assert ground is not None
                withdrawn_on, valid_until = ground.withdrawn_on, None
            else:
                ground = state.current()
                assert ground is not None
                withdrawn_on, valid_until = None, ground.valid_until
            await self.cipher.erase(str(participant_id))
            # Every generation of the health key, the one in force included (docs/adr/0026).
            for subject in health_key_subjects(participant_id, state.health_generation):
                await self.cipher.erase(subject)
            deleted = deleted_before + await self.documents.delete_participant(participant_id)
            deleted_before = deleted
            record = DestructionRecorded(
                record_id=record_id,
                participant_id=participant_id,
                categories=DESTROYED_CATEGORIES,
                methods=DESTRUCTION_METHODS,
                destroyed_at=now,
                reason=reason,
                consent_id=ground.consent_id,
                withdrawn_on=withdrawn_on,
                valid_until=valid_until,
                documents_deleted=deleted,
                performed_by=performed_by,
                destroyed_from=DESTROYED_FROM,
                operator=self.operator,
            )
            attempt.append(fold.stream_id, decided)
            attempt.append(f"destruction-{record_id}", [record], NO_STREAM)
            return deleted

        outcome = await self.transactor.transact_many(ctx, decide)
        if outcome.value is None:
            return None
        await self.audit.record(
            ctx.audit(Access.ERASE, participant_id, "destruction", DESTROYED_CATEGORIES)
        )
        return ErasureOutcome(participant_id, record_id, outcome.value, outcome.position)

    async def erase_due(
        self, performed_by: str, as_of: date | None = None, catch_up: float = 5.0
    ) -> ErasureReport:
        """Erase every participant whose destruction date has come (by `as_of`, default today):
        `erase_by` of a withdrawal, or `erasure_days` after the end of a consent not renewed."""
        day = as_of or self.today()
        head = await self.store.head_position()
        if head:
            # The schedule is a projection of this store: let it see what was written so far.
            await self.directory.wait_for("consent", head, catch_up)
        due = await self.directory.due_for_erasure(day, self.erasure_days)
        erased: list[ErasureOutcome] = []
        skipped = 0
        contended = 0
        for participant_id in due:
            try:
                outcome = await self.erase(participant_id, performed_by)
            except VersionConflict:
                # Another writer kept changing this stream: the others are not held up by it.
                _log.warning("erasure contended", extra={"participant_id": str(participant_id)})
                contended += 1
                continue
            if outcome is None:
                skipped += 1
            else:
                erased.append(outcome)
        return ErasureReport(day, len(due), erased, skipped, contended)

    async def overdue_erasures(self) -> int:
        """Participants whose destruction date has passed and who are not erased yet."""
        return await self.directory.overdue_erasures(self.today(), self.erasure_days)

    async def record(self, record_id: UUID) -> DestructionRecorded | None:
        stream = await EVENT_LOG.read(self.store, f"destruction-{record_id}")
        return next((e for e in stream.events if isinstance(e, DestructionRecorded)), None)
