"""The lists over the read model (`participants.ParticipantFactsProjection`): the verification
queue (consents by status, oldest first) and the consent state of a school's participants. Both
are keyset-paged; the scope (school, region) is decided by `access.list_scope` before a query.

A participant's state here is the one `queries._status_label` gives from the stream, computed in
SQL from the same facts (the decider's statuses, mirrored by `consent_rows`): erased; withdrawn
(a destruction is scheduled by a withdrawal); verified or expired (the verified consent, by its
last day); else the latest consent's status (pending, rejected); else none.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from bilet.contracts.catalogue.consent import Purpose, RejectionReason
from bilet.projections import ReadModel
from bilet_consent.application.consent_rows import submission_time
from bilet_consent.application.participants import ParticipantFactsProjection

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class ConsentListStatus(StrEnum):
    """A consent's status in the queue (`superseded`: a later consent of the same participant
    was verified)."""

    PENDING = "pending"
    REJECTED = "rejected"
    VERIFIED = "verified"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


class ParticipantState(StrEnum):
    """A participant's consent state, as `GET …/participants/{id}/status` tells it."""

    NONE = "none"
    PENDING = "pending"
    VERIFIED = "verified"
    EXPIRED = "expired"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    ERASED = "erased"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which participants a list covers: a school, a region, both or (the operator) all."""

    school_id: UUID | None
    region_id: UUID | None


@dataclass(frozen=True, slots=True)
class QueuedConsent:
    consent_id: UUID
    participant_id: UUID
    school_id: UUID | None  # the participant's school now
    region_id: UUID | None
    submitted_by: UUID  # the school that uploaded it
    submitted_at: datetime
    status: ConsentListStatus
    rejection_reasons: tuple[RejectionReason, ...]
    resubmitted: bool  # a later consent of the participant was submitted

    @property
    def after(self) -> tuple[datetime, UUID]:
        return self.submitted_at, self.consent_id


@dataclass(frozen=True, slots=True)
class ParticipantStateRow:
    participant_id: UUID
    school_id: UUID | None
    state: ParticipantState
    consent_id: UUID | None
    valid_until: date | None
    erase_by: date | None
    pending_consents: int
    purposes: tuple[Purpose, ...]  # in force: only when verified


def _scope_sql(scope: Scope, args: list[Any]) -> str:
    where = ""
    if scope.school_id is not None:
        args.append(str(scope.school_id))
        where += f" AND p.school_id = ${len(args)}"
    if scope.region_id is not None:
        args.append(str(scope.region_id))
        where += f" AND p.region_id = ${len(args)}"
    return where


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _uuid(text: str | None) -> UUID | None:
    return None if text is None else UUID(text)


class ConsentLists:
    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model
        self.projection = ParticipantFactsProjection()

    async def _fetch(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        async with self.read_model.query(self.projection) as tx:
            try:
                return await tx.fetch(sql, *args)
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return []  # the feed has not installed the projection yet
                raise

    async def queue(
        self,
        status: ConsentListStatus,
        scope: Scope,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[QueuedConsent]:
        """Consents of `status` in `scope`, oldest submission first (then by consent id); an
        erased participant's are no one's work any more and are left out."""
        args: list[Any] = [status.value]
        where = _scope_sql(scope, args)
        if after is not None:
            args += [submission_time(after[0]), str(after[1])]
            n = len(args)
            where += (
                f" AND (c.submitted_at > ${n - 1} OR "
                f"(c.submitted_at = ${n - 1} AND c.consent_id > ${n}))"
            )
        args.append(limit)
        rows = await self._fetch(
            "SELECT c.consent_id, c.participant_id, p.school_id, p.region_id, c.submitted_by, "  # noqa: S608 - parameter marks only
            "c.submitted_at, c.status, c.reasons, EXISTS (SELECT 1 FROM {consents} n "
            "WHERE n.participant_id = c.participant_id AND n.seq > c.seq) "
            "FROM {consents} c JOIN {participant_facts} p ON p.participant_id = c.participant_id "
            f"WHERE c.status = $1 AND NOT p.erased{where} "
            f"ORDER BY c.submitted_at, c.consent_id LIMIT ${len(args)}",
            args,
        )
        return [
            QueuedConsent(
                UUID(row[0]),
                UUID(row[1]),
                _uuid(row[2]),
                _uuid(row[3]),
                UUID(row[4]),
                _moment(row[5]),
                ConsentListStatus(row[6]),
                tuple(RejectionReason(r) for r in row[7].split(",") if r),
                bool(row[8]),
            )
            for row in rows
        ]

    async def states(
        self,
        scope: Scope,
        states: frozenset[ParticipantState],
        after: UUID | None,
        limit: int,
        today: date,
        erasure_days: int,
    ) -> list[ParticipantStateRow]:
        """The consent state of each participant in `scope` (of `states`, if any), by id; one
        who left the school or the programme (docs/adr/0050) is no school's to chase."""
        args: list[Any] = [today.isoformat()]
        where = _scope_sql(scope, args)
        if after is not None:
            args.append(str(after))
            where += f" AND p.participant_id > ${len(args)}"
        chosen = ""
        if states:
            first = len(args) + 1
            args += sorted(state.value for state in states)
            chosen = (
                "WHERE state IN (" + ", ".join(f"${n}" for n in range(first, len(args) + 1)) + ")"
            )
        args.append(limit)
        rows = await self._fetch(
            "SELECT participant_id, school_id, state, shown, "  # noqa: S608 - parameter marks only
            "(SELECT s.valid_until FROM {consents} s WHERE s.consent_id = listed.shown), "
            "(SELECT s.purposes FROM {consents} s WHERE s.consent_id = listed.shown), "
            "erase_by, pending FROM (SELECT p.participant_id, p.school_id, CASE "
            "WHEN p.erased THEN 'erased' "
            "WHEN p.erase_by IS NOT NULL THEN 'withdrawn' "
            "WHEN v.consent_id IS NOT NULL THEN "
            "CASE WHEN v.valid_until >= $1 THEN 'verified' ELSE 'expired' END "
            "WHEN l.consent_id IS NOT NULL THEN l.status ELSE 'none' END AS state, "
            "CASE WHEN p.erased THEN NULL WHEN p.erase_by IS NOT NULL THEN p.withdrawal "
            "ELSE COALESCE(v.consent_id, l.consent_id) END AS shown, "
            "p.erase_by AS erase_by, "
            "(SELECT count(*) FROM {consents} q WHERE q.participant_id = p.participant_id "
            "AND q.status = 'pending') AS pending "
            "FROM {participant_facts} p "
            "LEFT JOIN {consents} v ON v.participant_id = p.participant_id "
            "AND v.status = 'verified' "
            "LEFT JOIN {consents} l ON l.participant_id = p.participant_id AND l.seq = "
            "(SELECT max(m.seq) FROM {consents} m WHERE m.participant_id = p.participant_id) "
            f"WHERE p.school_id IS NOT NULL AND NOT p.left_programme{where}) AS listed {chosen} "
            f"ORDER BY participant_id LIMIT ${len(args)}",
            args,
        )
        return [_state_row(row, erasure_days) for row in rows]


def _state_row(row: tuple[Any, ...], erasure_days: int) -> ParticipantStateRow:
    state = ParticipantState(row[2])
    valid_until = None if row[4] is None else date.fromisoformat(row[4])
    erase_by = None if row[6] is None else date.fromisoformat(row[6])
    allowed = set(row[5].split(",")) if state is ParticipantState.VERIFIED and row[5] else set()
    if state is ParticipantState.EXPIRED and valid_until is not None:
        # As `queries.scheduled_erasure`: the end of the consent + the erasure days.
        erase_by = valid_until + timedelta(days=erasure_days)
    return ParticipantStateRow(
        UUID(row[0]),
        _uuid(row[1]),
        state,
        _uuid(row[3]),
        valid_until,
        erase_by,
        int(row[7]),
        tuple(p for p in Purpose if p.value in allowed),  # catalogue order, as the status
    )
