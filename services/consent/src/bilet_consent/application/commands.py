"""Consent's commands: a school submits the signed form, an operator or the region verifies or
rejects it, a guardian (or the school on their written request) withdraws it, whole or in part."""

from typing import Final
from uuid import UUID

from bilet.application import Attempt
from bilet.audit import Access
from bilet.contracts.catalogue.consent import ConsentPurposesWithdrawn, Purpose, RejectionReason
from bilet.contracts.drafts import Decided, Unsealed
from bilet.crypto import ERASED
from bilet.eventstore import NO_STREAM
from bilet.http.auth import Role
from bilet_consent.application import access
from bilet_consent.application.base import (
    ConsentCore,
    consents_of,
    file_of,
    ref_of,
    unknown_if_out_of_scope,
)
from bilet_consent.application.destruction import HEALTH_CATEGORIES, destroy_health_data
from bilet_consent.application.documents import Rebuilt, StoredDocument, check_document
from bilet_consent.application.errors import (
    ParticipantMerged,
    StaleVersion,
    UnknownParticipant,
    WrittenRequestRequired,
)
from bilet_consent.application.inputs import (
    CommandContext,
    Committed,
    SubmissionInput,
    WrittenRequest,
)
from bilet_consent.domain import consent as consents
from bilet_consent.domain.consent import (
    RejectConsent,
    SubmitConsent,
    VerifyConsent,
    WithdrawConsent,
)
from bilet_consent.domain.errors import UnknownConsent
from bilet_consent.domain.guardian import check_written_request
from bilet_consent.domain.internal import (
    ConsentRegistered,
    DocumentStored,
    GuardianContactRecorded,
    WrittenRequestRecorded,
)

GUARDIAN_FIELDS: Final = ("guardian_full_name", "guardian_passport", "guardian_authority")


def require_version(expected: int | None, loaded: int | None) -> None:
    """The caller's `If-Match`: decide only on the consents as they read them. A change since is
    refused (412), never retried: the decision was made on what they saw."""
    if expected is not None and expected != (loaded or 0):
        raise StaleVersion(expected, loaded or 0)


class ConsentCommands(ConsentCore):
    async def submit(self, ctx: CommandContext, form: SubmissionInput, content: bytes) -> Committed:
        """A school's upload: only the copy rebuilt from its pixels is stored and served."""
        school_id = await self._submitter_school(ctx, form)
        media_type = check_document(content, self.max_document_bytes)
        rebuilt = await self.disarmer.rebuild(media_type, content)
        return await self._submit(ctx, form, school_id, rebuilt)

    async def submit_generated(
        self, ctx: CommandContext, form: SubmissionInput, document: Rebuilt
    ) -> Committed:
        """A form the platform wrote itself (the demo's): no one's upload, nothing to disarm."""
        return await self._submit(ctx, form, await self._submitter_school(ctx, form), document)

    async def _submitter_school(self, ctx: CommandContext, form: SubmissionInput) -> UUID:
        access.require_role(ctx.principal, access.SUBMITTERS, "submit consents")
        facts = await self.facts(ctx, form.participant_id)
        with unknown_if_out_of_scope(UnknownParticipant):
            access.require_submitter(ctx.principal, facts)
        if facts.merged_into is not None:
            raise ParticipantMerged(facts.merged_into)
        assert facts.school_id is not None
        return facts.school_id

    async def _submit(
        self, ctx: CommandContext, form: SubmissionInput, school_id: UUID, rebuilt: Rebuilt
    ) -> Committed:
        media_type = rebuilt.media_type
        consent_id, document_id = self.ids(), self.ids()
        guardian_id = form.guardian_id or self.ids()
        participant_id = form.participant_id
        command = SubmitConsent(
            participant_id=participant_id,
            consent_id=consent_id,
            document_id=document_id,
            school_id=school_id,
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

        async def decide(attempt: Attempt) -> None:
            nonlocal stored
            fold = consents_of(participant_id)
            decided = consents.decide(command, await attempt.state(fold))
            if stored is None:  # decided first: a refused consent stores no document
                stored = await self.sealer.seal(
                    participant_id, document_id, media_type, rebuilt.content, rebuilt.original
                )
                await self.documents.put(stored)
            attempt.append(fold.stream_id, decided)
            registered = ConsentRegistered(consent_id=consent_id, participant_id=participant_id)
            attempt.append(ref_of(consent_id), [registered], NO_STREAM)
            await attempt.read(file_of(participant_id))
            bookkeeping: list[Decided] = [
                DocumentStored(
                    participant_id=participant_id,
                    consent_id=consent_id,
                    document_id=document_id,
                    media_type=media_type,
                    size_bytes=len(rebuilt.content),
                ),
                Unsealed(
                    GuardianContactRecorded,
                    {"participant_id": participant_id, "consent_id": consent_id},
                    {"guardian_contact": form.guardian.contact.plain()},
                ),
            ]
            attempt.append(file_of(participant_id), bookkeeping)

        try:
            outcome = await self.transactor.transact_many(ctx, decide)
        except BaseException:
            if stored is not None:
                await self.documents.delete(participant_id, document_id)
            raise
        fields = [*GUARDIAN_FIELDS[: 3 if form.guardian.authority else 2], "guardian_contact"]
        await self.audit.record(
            ctx.audit(Access.WRITE, participant_id, "submit_consent", [*fields, "consent_document"])
        )
        return Committed.of(outcome, participant_id, consent_id, document_id)

    async def verify(
        self, ctx: CommandContext, consent_id: UUID, expected_version: int | None = None
    ) -> Committed:
        access.require_role(ctx.principal, access.VERIFIERS, "verify or reject consents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        with unknown_if_out_of_scope(UnknownConsent):
            access.require_verifier(ctx.principal, facts)

        async def decide(attempt: Attempt) -> None:
            fold = consents_of(participant_id)
            loaded = await attempt.load(fold)
            require_version(expected_version, loaded.version)
            name: object = ERASED
            contact: object = ERASED
            if loaded.state.find(consent_id) is not None and not loaded.state.erased:
                personal, _ = await self._signer(loaded, consent_id)
                name = personal["guardian_full_name"]
                contact = await self._contact(attempt, participant_id, consent_id)
            command = VerifyConsent(consent_id, self.today(), name, contact)
            attempt.append(fold.stream_id, consents.decide(command, loaded.state))

        outcome = await self.transactor.transact_many(ctx, decide)
        await self.audit.record(
            ctx.audit(
                Access.WRITE,
                participant_id,
                "verify_consent",
                ["guardian_full_name", "guardian_contact"],
            )
        )
        return Committed.of(outcome, participant_id, consent_id)

    async def reject(
        self,
        ctx: CommandContext,
        consent_id: UUID,
        reasons: tuple[RejectionReason, ...],
        expected_version: int | None = None,
    ) -> Committed:
        access.require_role(ctx.principal, access.VERIFIERS, "verify or reject consents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        with unknown_if_out_of_scope(UnknownConsent):
            access.require_verifier(ctx.principal, facts)
        command = RejectConsent(consent_id, reasons)

        async def decide(attempt: Attempt) -> None:
            fold = consents_of(participant_id)
            loaded = await attempt.load(fold)
            require_version(expected_version, loaded.version)
            attempt.append(fold.stream_id, consents.decide(command, loaded.state))

        outcome = await self.transactor.transact_many(ctx, decide)
        await self.audit.record(ctx.audit(Access.WRITE, participant_id, "reject_consent", []))
        return Committed.of(outcome, participant_id, consent_id)

    async def withdraw(
        self,
        ctx: CommandContext,
        consent_id: UUID,
        purposes: tuple[Purpose, ...] | None,
        request: WrittenRequest | None,
        expected_version: int | None = None,
    ) -> Committed:
        access.require_role(ctx.principal, access.WITHDRAWERS, "withdraw consents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        with unknown_if_out_of_scope(UnknownConsent):
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
        command = WithdrawConsent(consent_id, today, self.erasure_days, purposes)

        async def decide(attempt: Attempt) -> bool:
            fold = consents_of(participant_id)
            loaded = await attempt.load(fold)
            require_version(expected_version, loaded.version)
            state = loaded.state
            decided = consents.decide(command, state)
            # Health data is destroyed as soon as the consent to process it is withdrawn, and
            # alone (its own key): nothing may use it any more, so nothing keeps it (ADR 0017).
            health_withdrawn = [
                event
                for event in decided
                if isinstance(event, ConsentPurposesWithdrawn)
                and Purpose.HEALTH_DATA in event.withdrawn
            ]
            # Each withdrawal of it destroys the health key's generation in force (ADR 0026).
            for generation, withdrawal in enumerate(health_withdrawn, state.health_generation):
                await destroy_health_data(
                    self.cipher,
                    attempt,
                    withdrawal,
                    generation,
                    now=self.clock(),
                    performed_by=ctx.principal.subject,
                    operator=self.operator,
                )
            attempt.append(fold.stream_id, decided)
            if by_school and request is not None and facts.school_id is not None:
                await attempt.read(file_of(participant_id))
                recorded = WrittenRequestRecorded(
                    participant_id=participant_id,
                    consent_id=consent_id,
                    school_id=facts.school_id,
                    reference=request.reference,
                    received_on=request.received_on,
                )
                attempt.append(file_of(participant_id), [recorded])
            return bool(health_withdrawn)

        outcome = await self.transactor.transact_many(ctx, decide)
        await self.audit.record(ctx.audit(Access.WRITE, participant_id, "withdraw_consent", []))
        if outcome.value:
            await self.audit.record(
                ctx.audit(Access.ERASE, participant_id, "destruction", HEALTH_CATEGORIES)
            )
        return Committed.of(outcome, participant_id, consent_id)
