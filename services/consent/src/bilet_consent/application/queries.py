"""What consent answers: a consent with its signer (masked for parties), the signed document, and
a participant's consent status. Every personal read is audited."""

from datetime import date
from uuid import UUID

from bilet.audit import Access
from bilet.contracts.catalogue.consent import Purpose
from bilet_consent.application import access
from bilet_consent.application.access import Visibility
from bilet_consent.application.base import ConsentCore, consents_of, unknown_if_out_of_scope
from bilet_consent.application.errors import DocumentGone, UnknownParticipant
from bilet_consent.application.inputs import CommandContext, ConsentView, StatusView
from bilet_consent.domain.consent import Consent, ParticipantConsents, Status
from bilet_consent.domain.errors import UnknownConsent


def scheduled_erasure(state: ParticipantConsents, today: date, erasure_days: int) -> date | None:
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


def _status_label(state: ParticipantConsents, today: date) -> tuple[str, Consent | None]:
    """The participant's consent state in one word, and the consent it speaks of."""
    if state.erased:
        return "erased", None
    if state.erase_by is not None:
        return "withdrawn", state.withdrawn_whole()
    current = state.current()
    if current is not None:
        return ("verified" if current.in_force_on(today) else "expired"), current
    latest = state.latest()
    if latest is not None:
        return latest.status.value, latest
    return "none", None


class ConsentQueries(ConsentCore):
    async def consent(self, ctx: CommandContext, consent_id: UUID) -> ConsentView:
        access.require_role(ctx.principal, access.CONSENT_READERS, "see consents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        loaded = await self.transactor.attempt().load(consents_of(participant_id))
        state = loaded.state
        found = state.find(consent_id)
        if found is None:
            raise UnknownConsent()
        with unknown_if_out_of_scope(UnknownConsent):
            visibility = access.consent_reader(ctx.principal, facts, found)
        personal, _ = await self._signer(loaded, consent_id)
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
            scheduled_erasure(state, self.today(), self.erasure_days),
            state.erased,
            loaded.version or 0,
            loaded.position,
        )

    async def document(self, ctx: CommandContext, consent_id: UUID) -> tuple[str, bytes]:
        access.require_role(ctx.principal, access.DOCUMENT_READERS, "download consent documents")
        participant_id, facts = await self._participant_and_facts(ctx, consent_id)
        state = await self.transactor.attempt().state(consents_of(participant_id))
        found = state.find(consent_id)
        if found is None:
            raise UnknownConsent()
        with unknown_if_out_of_scope(UnknownConsent):
            access.require_document_reader(ctx.principal, facts)
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
        with unknown_if_out_of_scope(UnknownParticipant):
            access.require_status_reader(ctx.principal, facts)
        loaded = await self.transactor.attempt().load(consents_of(participant_id))
        state = loaded.state
        today = self.today()
        label, shown = _status_label(state, today)
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
            scheduled_erasure(state, today, self.erasure_days),
            sum(1 for c in state.consents if c.status is Status.PENDING),
            loaded.position,
        )
