"""The consent service's use cases.

Commands (one handler each; they fail loudly): check who asks against the participant's facts
(the read model of identity's events), load the participant's consent stream, decide, seal the
personal plaintext with the participant's key, append with the expected versions (the consent
stream and the internal ones in one atomic append), and retry when another writer was faster.
They return the store position of their commit on the published stream `consent-<participant>`
(the read-your-writes token; the internal streams written with it are never relayed, so a reader
could never wait for theirs). Queries fold the stream. Every read or write of personal data is
audited (`bilet.audit`), by ids only. A role with no access to a use case is refused before
anything is looked up; a participant outside the caller's scope is answered as unknown.
"""

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final
from uuid import UUID

from bilet.application import RequestContext, Stream, retrying
from bilet.audit import Access, AuditLog
from bilet.contracts import unseal
from bilet.contracts.catalogue.consent import (
    ConsentSubmitted,
    ErasureReason,
    Purpose,
    RejectionReason,
    Relationship,
)
from bilet.contracts.drafts import Decided, Unsealed
from bilet.crypto import ERASED, FieldCipher, KeyStore
from bilet.eventstore import (
    NO_STREAM,
    AppendResult,
    EventStore,
    ExpectedVersion,
    WrongExpectedVersion,
)
from bilet.http.auth import Principal, Role
from bilet_consent.application import access
from bilet_consent.application.access import OutOfScope, Visibility
from bilet_consent.application.documents import (
    DocumentSealer,
    DocumentStore,
    StoredDocument,
    check_document,
)
from bilet_consent.application.errors import (
    DocumentGone,
    UnknownParticipant,
    VersionConflict,
    WrittenRequestRequired,
)
from bilet_consent.application.eventlog import EVENT_LOG
from bilet_consent.application.participants import IDENTITY, ParticipantDirectory, ParticipantFacts
from bilet_consent.domain import consent as consents
from bilet_consent.domain.consent import (
    Consent,
    EraseParticipant,
    ParticipantConsents,
    RejectConsent,
    Status,
    SubmitConsent,
    VerifyConsent,
    WithdrawConsent,
)
from bilet_consent.domain.errors import DomainError, ErasureNotDue, UnknownConsent
from bilet_consent.domain.guardian import Guardian, check_written_request
from bilet_consent.domain.internal import (
    FEDERAL_OPERATOR,
    FILE_CATEGORY,
    REF_CATEGORY,
    ConsentRegistered,
    DestructionRecorded,
    DocumentStored,
    GuardianContactRecorded,
    WrittenRequestRecorded,
)

WAIT_FOR_IDENTITY: Final = 2.0  # seconds a command waits for a participant identity just wrote
GUARDIAN_FIELDS: Final = ("guardian_full_name", "guardian_passport", "guardian_authority")
DESTROYED_CATEGORIES: Final = (
    "participant_personal_data",  # what identity sealed: ФИО, date of birth, СНИЛС, ОВЗ …
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


# ---------------------------------------------------------------------- inputs and results
# Who asks, the correlation id of their request, and the position tokens it carried.
CommandContext = RequestContext


@dataclass(frozen=True)
class Committed:
    """What a command did: the read-your-writes token and the consent it concerned."""

    position: int
    participant_id: UUID
    consent_id: UUID
    version: int | None
    document_id: UUID | None = None

    @property
    def stream_id(self) -> str:
        return consents.stream_id(self.participant_id)


@dataclass(frozen=True)
class SubmissionInput:
    """A consent form as the school enters it (plaintext; checked by the domain)."""

    participant_id: UUID
    form_version: str
    purposes: tuple[Purpose, ...]
    signed_on: date
    valid_until: date
    relationship: Relationship
    guardian: Guardian = field(repr=False)
    # The signer's reference (their account id if the school knows it): it names the signer in
    # GuardianLinked and grants NO access; a guardian's access comes from the `children` claim.
    guardian_id: UUID | None = None

    def __repr__(self) -> str:
        return f"SubmissionInput(participant_id={self.participant_id}, <hidden>)"


@dataclass(frozen=True)
class WrittenRequest:
    """The guardian's written request a school withdraws on: its registration number (a document
    number, no names: it outlives the destruction) and the day the school received it."""

    reference: str
    received_on: date


@dataclass(frozen=True)
class ConsentView:
    participant_id: UUID
    consent: Consent
    visibility: Visibility
    # field → plaintext (or ERASED), masked for parties; never in a repr (logs, tracebacks)
    guardian: dict[str, object] = field(repr=False)
    erase_by: date | None
    erased: bool
    version: int
    position: int


@dataclass(frozen=True)
class StatusView:
    participant_id: UUID
    state: str  # none | pending | verified | expired | rejected | withdrawn | erased
    consent: Consent | None
    purposes: tuple[Purpose, ...]
    valid_until: date | None
    erase_by: date | None
    pending: int
    position: int


@dataclass(frozen=True)
class ErasureOutcome:
    participant_id: UUID
    record_id: UUID
    documents_deleted: int
    position: int


@dataclass(frozen=True)
class ErasureReport:
    as_of: date
    due: int
    erased: list[ErasureOutcome]
    skipped: int


@contextmanager
def _unknown_if_out_of_scope(error: Callable[[], DomainError]) -> Iterator[None]:
    """A participant that is not the caller's is answered like one that does not exist."""
    try:
        yield
    except OutOfScope:
        raise error() from None


def _published(results: Sequence[AppendResult], participant_id: UUID) -> AppendResult:
    """The commit on the published stream: the read-your-writes token names it."""
    stream_id = consents.stream_id(participant_id)
    return next(r for r in results if r.stream_id == stream_id)


def _scheduled(state: ParticipantConsents, today: date, erasure_days: int) -> date | None:
    """The destruction date to show: a withdrawal's, or that of a consent that has ended."""
    if state.erase_by is not None:
        return state.erase_by
    current = state.current()
    if current is not None and not current.in_force_on(today):
        return state.expiry_erase_by(erasure_days)
    return None


def _mask(passport: object) -> object:
    if not isinstance(passport, dict):
        return passport
    number = str(passport.get("number", ""))
    series = str(passport.get("series", ""))
    return {**passport, "number": "****" + number[-2:], "series": "**" + series[2:]}


class ConsentService:
    def __init__(
        self,
        store: EventStore,
        keystore: KeyStore,
        documents: DocumentStore,
        directory: ParticipantDirectory,
        audit: AuditLog,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
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
        self.directory = directory
        self.audit = audit
        self.clock = clock
        self.erasure_days = erasure_days
        self.max_document_bytes = max_document_bytes
        self.wait_timeout = wait_timeout
        self.operator = operator

    def today(self) -> date:
        return self.clock().date()

    # ------------------------------------------------------------------ loading
    async def facts(self, ctx: CommandContext, participant_id: UUID) -> ParticipantFacts:
        """The participant's school and region; waits (bounded) for identity's events when the
        request carries identity's position token and they have not arrived yet."""
        facts = await self.directory.find(participant_id)
        if facts is None or not facts.registered:
            waits = [t for t in ctx.tokens if t.source == IDENTITY]
            for token in waits:
                await self.directory.wait_for(
                    IDENTITY, token.position, self.wait_timeout, token.stream_id
                )
            if waits:
                facts = await self.directory.find(participant_id)
        if facts is None or not facts.registered:
            if ctx.principal.role is Role.OPERATOR and facts is not None:
                return facts  # erased before identity's facts arrived: the operator still sees
            raise UnknownParticipant()
        return facts

    async def _stream(self, participant_id: UUID) -> tuple[Stream, ParticipantConsents]:
        stream = await EVENT_LOG.read(self.store, consents.stream_id(participant_id))
        return stream, consents.fold(participant_id, stream.events)

    async def participant_of(self, consent_id: UUID) -> UUID:
        ref = await EVENT_LOG.read(self.store, f"{REF_CATEGORY}-{consent_id}")
        for event in ref.events:
            if isinstance(event, ConsentRegistered):
                return event.participant_id
        raise UnknownConsent()

    async def _file(self, participant_id: UUID) -> Stream:
        return await EVENT_LOG.read(self.store, f"{FILE_CATEGORY}-{participant_id}")

    # ------------------------------------------------------------------ writing
    async def _append(
        self, ctx: CommandContext, parts: Sequence[tuple[str, Sequence[Decided], ExpectedVersion]]
    ) -> list[AppendResult]:
        return await EVENT_LOG.append(self.store, self.cipher, ctx.metadata(), parts)

    # ------------------------------------------------------------------ submit
    async def submit(self, ctx: CommandContext, form: SubmissionInput, content: bytes) -> Committed:
        access.require_role(ctx.principal, access.SUBMITTERS, "submit consents")
        facts = await self.facts(ctx, form.participant_id)
        with _unknown_if_out_of_scope(UnknownParticipant):
            access.require_submitter(ctx.principal, facts)
        assert facts.school_id is not None
        media_type = check_document(content, self.max_document_bytes)
        consent_id, document_id = uuid.uuid4(), uuid.uuid4()
        guardian_id = form.guardian_id or uuid.uuid4()
        participant_id = form.participant_id
        command = SubmitConsent(
            participant_id=participant_id,
            consent_id=consent_id,
            document_id=document_id,
            school_id=facts.school_id,
            form_version=form.form_version,
            purposes=form.purposes,
            signed_on=form.signed_on,
            valid_until=form.valid_until,
            guardian_id=guardian_id,
            relationship=form.relationship,
            guardian=form.guardian,
            today=self.today(),
        )
        stored: StoredDocument | None = None

        async def attempt() -> Committed:
            nonlocal stored
            stream, state = await self._stream(participant_id)
            decided = consents.decide(command, state)
            if stored is None:  # decided first: a refused consent stores no document
                stored = await self.sealer.seal(participant_id, document_id, media_type, content)
                await self.documents.put(stored)
            file = await self._file(participant_id)
            bookkeeping: list[Decided] = [
                DocumentStored(
                    participant_id=participant_id,
                    consent_id=consent_id,
                    document_id=document_id,
                    media_type=media_type,
                    size_bytes=len(content),
                ),
                Unsealed(
                    GuardianContactRecorded,
                    {"participant_id": participant_id, "consent_id": consent_id},
                    {"guardian_contact": form.guardian.contact.plain()},
                ),
            ]
            ref: list[Decided] = [
                ConsentRegistered(consent_id=consent_id, participant_id=participant_id)
            ]
            results = await self._append(
                ctx,
                [
                    (stream.stream_id, decided, stream.expected),
                    (f"{REF_CATEGORY}-{consent_id}", ref, NO_STREAM),
                    (file.stream_id, bookkeeping, file.expected),
                ],
            )
            published = _published(results, participant_id)
            return Committed(
                published.position, participant_id, consent_id, published.version, document_id
            )

        try:
            committed = await retrying(attempt, VersionConflict)
        except BaseException:
            if stored is not None:
                await self.documents.delete(participant_id, document_id)
            raise
        fields = [*GUARDIAN_FIELDS[: 3 if form.guardian.authority else 2], "guardian_contact"]
        await self.audit.record(
            ctx.audit(Access.WRITE, participant_id, "submit_consent", [*fields, "consent_document"])
        )
        return committed

    # ------------------------------------------------------------------ verify / reject
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

    async def _contact(self, participant_id: UUID, consent_id: UUID) -> object:
        file = await self._file(participant_id)
        for event in file.events:
            if isinstance(event, GuardianContactRecorded) and event.consent_id == consent_id:
                return (await unseal(self.cipher, event))["guardian_contact"]
        return {"phone": None, "email": None}

    async def verify(self, ctx: CommandContext, consent_id: UUID) -> Committed:
        access.require_role(ctx.principal, access.VERIFIERS, "verify or reject consents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        with _unknown_if_out_of_scope(UnknownConsent):
            access.require_verifier(ctx.principal, facts)

        async def attempt() -> Committed:
            stream, state = await self._stream(participant_id)
            name: object = ERASED
            contact: object = ERASED
            if state.find(consent_id) is not None and not state.erased:
                personal, _ = await self._signer(stream, consent_id)
                name = personal["guardian_full_name"]
                contact = await self._contact(participant_id, consent_id)
            command = VerifyConsent(consent_id, self.today(), name, contact)
            decided = consents.decide(command, state)
            results = await self._append(ctx, [(stream.stream_id, decided, stream.expected)])
            published = _published(results, participant_id)
            return Committed(published.position, participant_id, consent_id, published.version)

        committed = await retrying(attempt, VersionConflict)
        await self.audit.record(
            ctx.audit(
                Access.WRITE,
                participant_id,
                "verify_consent",
                ["guardian_full_name", "guardian_contact"],
            )
        )
        return committed

    async def reject(
        self, ctx: CommandContext, consent_id: UUID, reasons: tuple[RejectionReason, ...]
    ) -> Committed:
        access.require_role(ctx.principal, access.VERIFIERS, "verify or reject consents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        with _unknown_if_out_of_scope(UnknownConsent):
            access.require_verifier(ctx.principal, facts)

        async def attempt() -> Committed:
            stream, state = await self._stream(participant_id)
            decided = consents.decide(RejectConsent(consent_id, reasons), state)
            results = await self._append(ctx, [(stream.stream_id, decided, stream.expected)])
            published = _published(results, participant_id)
            return Committed(published.position, participant_id, consent_id, published.version)

        committed = await retrying(attempt, VersionConflict)
        await self.audit.record(ctx.audit(Access.WRITE, participant_id, "reject_consent", []))
        return committed

    # ------------------------------------------------------------------ withdraw
    async def withdraw(
        self,
        ctx: CommandContext,
        consent_id: UUID,
        purposes: tuple[Purpose, ...] | None,
        request: WrittenRequest | None,
    ) -> Committed:
        access.require_role(ctx.principal, access.WITHDRAWERS, "withdraw consents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        with _unknown_if_out_of_scope(UnknownConsent):
            access.require_withdrawer(ctx.principal, facts)
        by_school = ctx.principal.role is Role.REGISTRAR
        today = self.today()
        if by_school:
            if request is None:
                raise WrittenRequestRequired()
            reference, received_on = check_written_request(
                request.reference, request.received_on, today
            )
            request = WrittenRequest(reference, received_on)

        async def attempt() -> Committed:
            stream, state = await self._stream(participant_id)
            command = WithdrawConsent(consent_id, today, self.erasure_days, purposes)
            decided = consents.decide(command, state)
            parts: list[tuple[str, Sequence[Decided], ExpectedVersion]] = [
                (stream.stream_id, decided, stream.expected)
            ]
            if by_school and request is not None and facts.school_id is not None:
                file = await self._file(participant_id)
                recorded = WrittenRequestRecorded(
                    participant_id=participant_id,
                    consent_id=consent_id,
                    school_id=facts.school_id,
                    reference=request.reference,
                    received_on=request.received_on,
                )
                parts.append((file.stream_id, [recorded], file.expected))
            results = await self._append(ctx, parts)
            published = _published(results, participant_id)
            return Committed(published.position, participant_id, consent_id, published.version)

        committed = await retrying(attempt, VersionConflict)
        await self.audit.record(ctx.audit(Access.WRITE, participant_id, "withdraw_consent", []))
        return committed

    # ------------------------------------------------------------------ reads
    async def consent(self, ctx: CommandContext, consent_id: UUID) -> ConsentView:
        access.require_role(ctx.principal, access.CONSENT_READERS, "see consents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        stream, state = await self._stream(participant_id)
        found = state.find(consent_id)
        if found is None:
            raise UnknownConsent()
        with _unknown_if_out_of_scope(UnknownConsent):
            visibility = access.consent_reader(ctx.principal, facts, found)
        personal, _ = await self._signer(stream, consent_id)
        if visibility is Visibility.PARTY:
            personal["guardian_passport"] = _mask(personal["guardian_passport"])
        await self.audit.record(
            ctx.audit(Access.READ, participant_id, "consent_view", sorted(personal))
        )
        return ConsentView(
            participant_id,
            found,
            visibility,
            personal,
            _scheduled(state, self.today(), self.erasure_days),
            state.erased,
            stream.version or 0,
            stream.position,
        )

    async def document(self, ctx: CommandContext, consent_id: UUID) -> tuple[str, bytes]:
        access.require_role(ctx.principal, access.DOCUMENT_READERS, "download consent documents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        _, state = await self._stream(participant_id)
        found = state.find(consent_id)
        if found is None:
            raise UnknownConsent()
        with _unknown_if_out_of_scope(UnknownConsent):
            access.require_document_reader(ctx.principal, facts, found)
        if state.erased:
            raise DocumentGone()
        stored = await self.documents.get(participant_id, found.document_id)
        if stored is None:
            raise DocumentGone()
        content = await self.sealer.open(stored)
        await self.audit.record(
            ctx.audit(Access.READ, participant_id, "consent_document_view", ["consent_document"])
        )
        return stored.media_type, content

    async def status(self, ctx: CommandContext, participant_id: UUID) -> StatusView:
        access.require_role(ctx.principal, access.STATUS_READERS, "see consent status")
        facts = await self.facts(ctx, participant_id)
        with _unknown_if_out_of_scope(UnknownParticipant):
            access.require_status_reader(ctx.principal, facts)
        stream, state = await self._stream(participant_id)
        today = self.today()
        pending = sum(1 for c in state.consents if c.status is Status.PENDING)
        current = state.current()
        shown: Consent | None
        if state.erased:
            label, shown = "erased", None
        elif state.erase_by is not None:
            label, shown = "withdrawn", state.withdrawn_whole()
        elif current is not None:
            label = "verified" if current.in_force_on(today) else "expired"
            shown = current
        elif state.latest() is not None:
            shown = state.latest()
            assert shown is not None
            label = shown.status.value
        else:
            label, shown = "none", None
        purposes: tuple[Purpose, ...] = ()
        if label == "verified" and shown is not None:
            purposes = tuple(p for p in Purpose if p in shown.effective_purposes)
        await self.audit.record(ctx.audit(Access.READ, participant_id, "consent_status", []))
        return StatusView(
            participant_id,
            label,
            shown,
            purposes,
            shown.valid_until if shown is not None else None,
            _scheduled(state, today, self.erasure_days),
            pending,
            stream.position,
        )

    # ------------------------------------------------------------------ destruction
    async def erase(self, participant_id: UUID, performed_by: str) -> ErasureOutcome | None:
        """Destroy a participant's data if it is due: the key first (in the suite's key store),
        the documents next, then the record of it (`ParticipantErased` and the destruction
        record), so that whatever says "erased" is true. Safe to run twice, and on two replicas
        at once: the appends expect the stream's version, and both steps before are idempotent.
        None when there was nothing (more) to do."""
        now = self.clock()
        ctx = CommandContext(Principal(subject=performed_by, role=Role.OPERATOR), "erasure")
        while True:
            stream, state = await self._stream(participant_id)
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
            deleted = await self.documents.delete_participant(participant_id)
            record_id = consents.destruction_record_id(participant_id)
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
            try:
                results = await self._append(
                    ctx,
                    [
                        (stream.stream_id, decided, stream.expected),
                        (f"destruction-{record_id}", [record], NO_STREAM),
                    ],
                )
            except WrongExpectedVersion:
                continue  # another replica, or a new event: look again
            await self.audit.record(
                ctx.audit(Access.ERASE, participant_id, "destruction", DESTROYED_CATEGORIES)
            )
            return ErasureOutcome(
                participant_id, record_id, deleted, _published(results, participant_id).position
            )

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
        for participant_id in due:
            outcome = await self.erase(participant_id, performed_by)
            if outcome is None:
                skipped += 1
            else:
                erased.append(outcome)
        return ErasureReport(day, len(due), erased, skipped)

    async def overdue_erasures(self) -> int:
        """Participants whose destruction date has passed and who are not erased yet."""
        return await self.directory.overdue_erasures(self.today(), self.erasure_days)

    async def record(self, record_id: UUID) -> DestructionRecorded | None:
        stream = await EVENT_LOG.read(self.store, f"destruction-{record_id}")
        return next((e for e in stream.events if isinstance(e, DestructionRecorded)), None)
