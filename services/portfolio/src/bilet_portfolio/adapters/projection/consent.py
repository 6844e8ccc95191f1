"""Consent's events in the portfolio: the participant's consents one by one, the consent columns
of their row summed up from them, the guardians shown, and the erasure of personal data.

A participant's whole consent history is one stream, so these run in its order: each consent
is kept as its events left it (`consents`, in stream order), and the participant's consent
columns are summed up from them after every consent event, as the consent service labels them.
"""

import json
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

from bilet.contracts.catalogue import consent
from bilet_portfolio.adapters.projection.json_columns import to_json
from bilet_portfolio.adapters.projection.step import Handler, Step, by_event_type, timestamp
from bilet_portfolio.domain.consent import ConsentRecord, ConsentStatus, summarise

_NEW_CONSENT: Final = (
    "INSERT INTO {consents} (participant_id, consent_id, seq, status, purposes, valid_until, "
    "reasons) VALUES ($1, $2, $3, $4, $5, $6, '[]') ON CONFLICT (participant_id, consent_id) "
)


def _purposes(values: Sequence[Any]) -> str:
    """Purposes as stored: their values (enum members or plain text), sorted."""
    return to_json(sorted(str(getattr(purpose, "value", purpose)) for purpose in values))


async def _summarise(step: Step, participant_id: str) -> None:
    """The participant's consent columns, from their consents and whether one was withdrawn."""
    rows = await step.tx.fetch(
        "SELECT consent_id, status, purposes, valid_until, reasons FROM {consents} "
        "WHERE participant_id = $1 ORDER BY seq, consent_id",
        participant_id,
    )
    erase_by = await step.tx.fetchval(
        "SELECT consent_erase_by FROM {participants} WHERE participant_id = $1", participant_id
    )
    summary = summarise(
        [
            ConsentRecord(
                consent_id=consent_id,
                status=ConsentStatus(status),
                purposes=tuple(json.loads(purposes)),
                valid_until=None if valid_until is None else date.fromisoformat(valid_until),
                rejection_reasons=tuple(json.loads(reasons)),
            )
            for consent_id, status, purposes, valid_until, reasons in rows
        ],
        withdrawn=erase_by is not None,
    )
    shown = summary.shown
    await step.tx.execute(
        "UPDATE {participants} SET consent_state = $2, consent_id = $3, consent_purposes = $4, "
        "consent_valid_until = $5, consent_reasons = $6, consent_pending_id = $7 "
        "WHERE participant_id = $1",
        participant_id,
        summary.state.value,
        None if shown is None else shown.consent_id,
        None if shown is None else to_json(list(shown.purposes)),
        None if shown is None or shown.valid_until is None else shown.valid_until.isoformat(),
        None
        if shown is None or not shown.rejection_reasons
        else to_json(list(shown.rejection_reasons)),
        summary.pending_id,
    )


async def _consent_changed(step: Step, participant_id: str) -> None:
    # The consent columns are read nowhere in the projection: summed up once per transaction,
    # from the consents as its last event leaves them (ADR 0068).
    step.once_before_commit(
        "consent summary", participant_id, lambda: _summarise(step, participant_id)
    )
    await step.portfolio_changed(participant_id)


async def _submitted(step: Step, event: consent.ConsentSubmitted) -> None:
    await step.ensure_participant(event.participant_id)
    participant_id = step.text_of(event.participant_id)
    await step.tx.execute(
        _NEW_CONSENT + "DO NOTHING",
        participant_id,
        str(event.consent_id),
        step.recorded.version,
        ConsentStatus.PENDING.value,
        _purposes(event.purposes),
        event.valid_until.isoformat(),
    )
    await _consent_changed(step, participant_id)


async def _verified(step: Step, event: consent.ConsentVerified) -> None:
    await step.ensure_participant(event.participant_id)
    participant_id, consent_id = step.text_of(event.participant_id), str(event.consent_id)
    await step.tx.execute(
        _NEW_CONSENT + "DO UPDATE SET status = excluded.status, purposes = excluded.purposes, "
        "valid_until = excluded.valid_until",
        participant_id,
        consent_id,
        step.recorded.version,
        ConsentStatus.VERIFIED.value,
        _purposes(event.purposes),
        event.valid_until.isoformat(),
    )
    # It supersedes every earlier consent still pending or in force — not a later one pending.
    await step.tx.execute(
        "UPDATE {consents} SET status = 'superseded' WHERE participant_id = $1 "
        "AND status IN ('pending', 'verified') AND seq < (SELECT c.seq FROM {consents} c "
        "WHERE c.participant_id = $1 AND c.consent_id = $2)",
        participant_id,
        consent_id,
    )
    # The guardians of the consents it superseded are no longer proven by a consent in force;
    # its own guardian is linked again by the `GuardianLinked` that follows.
    await step.tx.execute(
        "DELETE FROM {guardians} WHERE participant_id = $1 AND consent_id <> $2",
        participant_id,
        consent_id,
    )
    await _consent_changed(step, participant_id)


async def _rejected(step: Step, event: consent.ConsentRejected) -> None:
    await step.ensure_participant(event.participant_id)
    participant_id = step.text_of(event.participant_id)
    reasons = to_json(sorted(reason.value for reason in event.reasons))
    await step.tx.execute(
        "INSERT INTO {consents} (participant_id, consent_id, seq, status, purposes, "
        "valid_until, reasons) VALUES ($1, $2, $3, 'rejected', '[]', NULL, $4) "
        "ON CONFLICT (participant_id, consent_id) DO UPDATE SET status = excluded.status, "
        "reasons = excluded.reasons",
        participant_id,
        str(event.consent_id),
        step.recorded.version,
        reasons,
    )
    await _consent_changed(step, participant_id)


async def _withdrawn(step: Step, event: consent.ConsentWithdrawn) -> None:
    """A whole withdrawal closes the participant's portfolio, whichever consent it names (the one
    in force, or a newer one still pending): the guardian stopped the processing of the child's
    data. The earliest destruction deadline seen stands (the consent service may withdraw every
    consent of the participant, one event each)."""
    await step.ensure_participant(event.participant_id)
    participant_id = step.text_of(event.participant_id)
    await step.tx.execute(
        "INSERT INTO {consents} (participant_id, consent_id, seq, status, purposes, "
        "valid_until, reasons) VALUES ($1, $2, $3, 'withdrawn', '[]', NULL, '[]') "
        "ON CONFLICT (participant_id, consent_id) DO UPDATE SET status = excluded.status",
        participant_id,
        str(event.consent_id),
        step.recorded.version,
    )
    await step.tx.execute(
        "UPDATE {participants} SET consent_erase_by = CASE WHEN consent_erase_by IS NULL "
        "OR consent_erase_by > $2 THEN $2 ELSE consent_erase_by END WHERE participant_id = $1",
        participant_id,
        event.erase_by.isoformat(),
    )
    await step.tx.execute("DELETE FROM {guardians} WHERE participant_id = $1", participant_id)
    await _consent_changed(step, participant_id)


async def _purposes_withdrawn(step: Step, event: Any) -> None:
    """`ConsentPurposesWithdrawn` (consent v2): the consent keeps `remaining` only; a portfolio
    whose purpose was withdrawn closes at once."""
    await step.ensure_participant(event.participant_id)
    participant_id = step.text_of(event.participant_id)
    await step.tx.execute(
        "UPDATE {consents} SET purposes = $3 WHERE participant_id = $1 AND consent_id = $2",
        participant_id,
        str(event.consent_id),
        _purposes(event.remaining),
    )
    await _consent_changed(step, participant_id)


async def _guardian_linked(step: Step, event: consent.GuardianLinked) -> None:
    # Shown on the portfolio (who, and how related); it grants no access: guardians see a child
    # named in their token's `children` claim. The name and contact are not kept.
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "INSERT INTO {guardians} (participant_id, guardian_id, relationship, consent_id, "
        "linked_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (participant_id, guardian_id) "
        "DO UPDATE SET relationship = excluded.relationship, consent_id = excluded.consent_id, "
        "linked_at = excluded.linked_at",
        step.text_of(event.participant_id),
        str(event.guardian_id),
        event.relationship.value,
        str(event.consent_id),
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


async def _participant_erased(step: Step, event: consent.ParticipantErased) -> None:
    await step.ensure_participant(event.participant_id)
    participant_id = step.text_of(event.participant_id)
    step.participant_erased(participant_id)
    await step.tx.execute(
        "UPDATE {participants} SET full_name = NULL, erased = TRUE, erased_at = $2, "
        "erasure_reason = $3 WHERE participant_id = $1",
        participant_id,
        timestamp(event.erased_at),
        event.reason.value,
    )
    await step.tx.execute(
        "UPDATE {feedback} SET comment = NULL WHERE participant_id = $1", participant_id
    )
    await step.tx.execute("DELETE FROM {guardians} WHERE participant_id = $1", participant_id)
    await step.portfolio_changed(participant_id)


HANDLERS: Final[dict[str, Handler]] = {
    **by_event_type(
        (consent.ConsentSubmitted, _submitted),
        (consent.ConsentVerified, _verified),
        (consent.ConsentRejected, _rejected),
        (consent.ConsentWithdrawn, _withdrawn),
        (consent.GuardianLinked, _guardian_linked),
        (consent.ParticipantErased, _participant_erased),
    ),
    # A type newer than some deployments' catalogue is named, not imported: its handler waits
    # for the type to be published (the projection looks only at published types).
    "ConsentPurposesWithdrawn": _purposes_withdrawn,
}
