"""The consents of each participant as the read model keeps them, for the lists (the verification
queue, a school's pupils' states): one row per consent with the ids, the school that uploaded it,
when, its status, a rejection's reasons and the purposes it allows (less those withdrawn). No
personal data: the signer's details stay sealed in the event store.

The status follows the decider's `evolve` (`domain/consent.py`) event by event, so a list and
the stream never tell a consent's status differently: a verification makes the earlier pending
or verified consents `superseded`, a withdrawal makes each consent it names `withdrawn`.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentRejected,
    ConsentSubmitted,
    ConsentVerified,
    Purpose,
)
from bilet.eventstore import RecordedEvent
from bilet.projections import ReadModelTx, Table

CONSENTS: Final = "consents"
CONSENTS_TABLE: Final = Table(
    CONSENTS,
    "consent_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, seq BIGINT NOT NULL, "
    "submitted_by TEXT NOT NULL, submitted_at TEXT NOT NULL, status TEXT NOT NULL, "
    "valid_until TEXT NOT NULL, reasons TEXT NOT NULL, purposes TEXT NOT NULL",
    indexes=("status, submitted_at, consent_id", "participant_id, seq"),
)


def submission_time(moment: datetime) -> str:
    """A fixed-width UTC text, so that text order is time order (the queue's sort key)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def record_submission(tx: ReadModelTx, event: ConsentSubmitted, at: RecordedEvent) -> None:
    await tx.execute(
        "INSERT INTO {consents} (consent_id, participant_id, seq, submitted_by, submitted_at, "
        "status, valid_until, reasons, purposes) "
        "VALUES ($1, $2, $3, $4, $5, 'pending', $6, '', $7) "
        "ON CONFLICT (consent_id) DO NOTHING",
        str(event.consent_id),
        str(event.participant_id),
        at.version,
        str(event.school_id),
        submission_time(at.recorded_at),
        event.valid_until.isoformat(),
        _joined(event.purposes),
    )


def _joined(purposes: Iterable[Purpose]) -> str:
    return ",".join(purpose.value for purpose in purposes)


async def record_verification(tx: ReadModelTx, event: ConsentVerified) -> None:
    # As the decider: the consents submitted before this one that were pending or verified are
    # superseded by it; the published period is the one in force.
    await tx.execute(
        "UPDATE {consents} SET status = 'superseded' WHERE participant_id = $1 "
        "AND status IN ('pending', 'verified') AND seq < "
        "(SELECT seq FROM {consents} WHERE consent_id = $2)",
        str(event.participant_id),
        str(event.consent_id),
    )
    await tx.execute(
        "UPDATE {consents} SET status = 'verified', valid_until = $2, purposes = $3 "
        "WHERE consent_id = $1",
        str(event.consent_id),
        event.valid_until.isoformat(),
        _joined(event.purposes),
    )


async def record_purposes_withdrawn(tx: ReadModelTx, event: ConsentPurposesWithdrawn) -> None:
    await tx.execute(
        "UPDATE {consents} SET purposes = $2 WHERE consent_id = $1",
        str(event.consent_id),
        _joined(event.remaining),
    )


async def record_rejection(tx: ReadModelTx, event: ConsentRejected) -> None:
    await tx.execute(
        "UPDATE {consents} SET status = 'rejected', reasons = $2 WHERE consent_id = $1",
        str(event.consent_id),
        ",".join(reason.value for reason in event.reasons),
    )


async def record_withdrawal(tx: ReadModelTx, consent_id: str) -> None:
    await tx.execute("UPDATE {consents} SET status = 'withdrawn' WHERE consent_id = $1", consent_id)
