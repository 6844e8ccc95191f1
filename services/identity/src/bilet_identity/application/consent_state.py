"""Which purposes a participant's consent allows today, as identity knows it from the consent
service's stream: a small read model (`consents_in_force_v3`, one row per participant) folded from
`ConsentSubmitted`, `ConsentVerified`, `ConsentPurposesWithdrawn`, `ConsentRejected`,
`ConsentWithdrawn` and `ParticipantErased`; the reader identity's queries ask before they show
health data (docs/adr/0019), and where a school's list of its pupils says whose consent is
missing or pending (`ConsentState`, docs/adr/0041). It also counts the withdrawals of
`health_data`, each of which destroyed a generation of the health key: a correction that states
health data again after one seals it under the next generation (docs/adr/0026).

The row holds ids, purposes, a date and a count: no personal data. Whether a verified consent has
expired depends on the day it is read, so that is decided at read time (`valid_until >= today`).
A whole withdrawal or an erasure closes the participant for good, as in the consent service,
which refuses every later command once a destruction is scheduled.
"""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final, assert_never
from uuid import UUID

from bilet.contracts import decode
from bilet.contracts.catalogue import consent
from bilet.contracts.sealed import FIRST_GENERATION
from bilet.eventstore import RecordedEvent
from bilet.http.consistency import PositionToken
from bilet.projections import NotApplied, ReadModel, ReadModelTx, Table
from bilet_identity.application.errors import NotYetVisible, UnknownPositionSource

# Version 2 counts the withdrawals of `health_data` (`health_withdrawals`); version 3 follows
# submissions and rejections too (`pending_consent_id`, `rejected`, `erased`): each a new name
# and table, so that its feed reads consent's history from the start and counts every event.
PROJECTION: Final = "identity_consent_v3"
# Where consent's events come from: the source name of its store (embedded) and of its topic.
CONSENT_SOURCE: Final = "consent"
HEALTH_DATA: Final = consent.Purpose.HEALTH_DATA.value
# How long a read waits for the consent tokens it carries (`BVB-Position`), in all.
WAIT_SECONDS: Final = 2.0

CONSENTS_IN_FORCE: Final = Table(
    "consents_in_force_v3",
    "participant_id TEXT PRIMARY KEY, consent_id TEXT, purposes TEXT NOT NULL, "
    "valid_until TEXT, closed BOOLEAN NOT NULL, health_withdrawals INTEGER NOT NULL DEFAULT 0, "
    "pending_consent_id TEXT, rejected BOOLEAN NOT NULL DEFAULT FALSE, "
    "erased BOOLEAN NOT NULL DEFAULT FALSE",
)
_SUBMITTED: Final = (
    "INSERT INTO {consents_in_force_v3} "
    "(participant_id, consent_id, purposes, valid_until, closed, pending_consent_id) "
    "VALUES ($1, NULL, '[]', NULL, FALSE, $2) ON CONFLICT (participant_id) DO UPDATE SET "
    "pending_consent_id = excluded.pending_consent_id, rejected = FALSE"
)
_UPSERT: Final = (
    "INSERT INTO {consents_in_force_v3} "
    "(participant_id, consent_id, purposes, valid_until, closed) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (participant_id) DO UPDATE SET "
    "consent_id = excluded.consent_id, purposes = excluded.purposes, "
    "valid_until = excluded.valid_until, closed = excluded.closed"
)

_COUNT_HEALTH_WITHDRAWAL: Final = (
    "INSERT INTO {consents_in_force_v3} "
    "(participant_id, consent_id, purposes, valid_until, closed, health_withdrawals) "
    "VALUES ($1, NULL, '[]', NULL, FALSE, 1) ON CONFLICT (participant_id) DO UPDATE SET "
    "health_withdrawals = {consents_in_force_v3}.health_withdrawals + 1"
)


@dataclass(frozen=True)
class ConsentInForce:
    """A participant's consent as identity's queries need it: the purposes the verified consent
    in force today allows, and how many times `health_data` was withdrawn."""

    purposes: frozenset[str]
    health_withdrawals: int

    @property
    def health_generation(self) -> int:
        """The generation of the health key that the withdrawals so far left in force: the one
        the consent service destroys at the next withdrawal of `health_data`."""
        return FIRST_GENERATION + self.health_withdrawals


NOTHING_IN_FORCE: Final = ConsentInForce(frozenset(), 0)


class ConsentState(StrEnum):
    """Where a participant's consent stands today, as their school chases it."""

    MISSING = "missing"  # none submitted (or the last one rejected and none since: `rejected`)
    PENDING = "pending"  # submitted, waiting for a verifier
    VERIFIED = "verified"  # verified and in force today
    EXPIRED = "expired"  # verified once, past its `valid_until`, no new one submitted
    REJECTED = "rejected"  # the last one submitted was rejected; a new one is needed
    WITHDRAWN = "withdrawn"  # withdrawn whole: closed for good
    ERASED = "erased"  # the participant's data was destroyed


def _state_of(row: Sequence[Any] | None, today: date) -> ConsentState:
    """The state of a row (consent_id, valid_until, closed, pending, rejected, erased)."""
    if row is None:
        return ConsentState.MISSING
    consent_id, valid_until, closed, pending, rejected, erased = row
    if erased:
        return ConsentState.ERASED
    if closed:
        return ConsentState.WITHDRAWN
    if consent_id is not None and valid_until is not None:
        if date.fromisoformat(valid_until) >= today:
            return ConsentState.VERIFIED
        if pending is None:
            return ConsentState.EXPIRED
    if pending is not None:
        return ConsentState.PENDING
    return ConsentState.REJECTED if rejected else ConsentState.MISSING


# The events `fold` looks at (the rest of consent's stream changes nothing here).
Folded = (
    consent.ConsentSubmitted
    | consent.ConsentVerified
    | consent.ConsentPurposesWithdrawn
    | consent.ConsentRejected
    | consent.ConsentWithdrawn
    | consent.ParticipantErased
)
FOLDED_TYPES: Final = frozenset(kind.event_type for kind in Folded.__args__)


def _purposes(values: Sequence[consent.Purpose]) -> str:
    return json.dumps(sorted(purpose.value for purpose in values))


async def _closed(tx: ReadModelTx, participant_id: str) -> bool:
    closed = await tx.fetchval(
        "SELECT closed FROM {consents_in_force_v3} WHERE participant_id = $1", participant_id
    )
    return bool(closed)


async def _nothing_in_force(tx: ReadModelTx, participant_id: str, *, closed: bool) -> None:
    await tx.execute(_UPSERT, participant_id, None, "[]", None, closed)


async def fold(tx: ReadModelTx, event: Folded) -> None:
    """One consent event's effect on the participant's row."""
    participant_id = str(event.participant_id)
    match event:
        case consent.ConsentSubmitted():
            if not await _closed(tx, participant_id):
                await tx.execute(_SUBMITTED, participant_id, str(event.consent_id))
        case consent.ConsentVerified():
            # A later verified consent supersedes the one in force; after a whole withdrawal
            # nothing is verified any more (the consent service refuses it), so a closed row
            # stays closed whatever arrives.
            if not await _closed(tx, participant_id):
                await tx.execute(
                    _UPSERT,
                    participant_id,
                    str(event.consent_id),
                    _purposes(event.purposes),
                    event.valid_until.isoformat(),
                    False,
                )
                await _settle_pending(tx, participant_id, str(event.consent_id), rejected=False)
        case consent.ConsentPurposesWithdrawn():
            await tx.execute(
                "UPDATE {consents_in_force_v3} SET purposes = $3 "
                "WHERE participant_id = $1 AND consent_id = $2",
                participant_id,
                str(event.consent_id),
                _purposes(event.remaining),
            )
            if consent.Purpose.HEALTH_DATA in event.withdrawn:
                # Whichever consent it names, pending or verified: the consent service destroyed
                # a generation of the health key for it (it counts them alike).
                await tx.execute(_COUNT_HEALTH_WITHDRAWAL, participant_id)
        case consent.ConsentRejected():
            # Only a pending consent is rejected; should it name the one in force, nothing is.
            await tx.execute(
                "UPDATE {consents_in_force_v3} SET consent_id = NULL, purposes = '[]', "
                "valid_until = NULL WHERE participant_id = $1 AND consent_id = $2",
                participant_id,
                str(event.consent_id),
            )
            await _settle_pending(tx, participant_id, str(event.consent_id), rejected=True)
        case consent.ConsentWithdrawn() | consent.ParticipantErased():
            # The participant withdrew (whichever consent the event names) or was erased:
            # nothing is in force again.
            await _nothing_in_force(tx, participant_id, closed=True)
            await tx.execute(
                "UPDATE {consents_in_force_v3} SET pending_consent_id = NULL, erased = $2 "
                "WHERE participant_id = $1",
                participant_id,
                isinstance(event, consent.ParticipantErased),
            )
        case _:
            assert_never(event)


async def _settle_pending(
    tx: ReadModelTx, participant_id: str, consent_id: str, *, rejected: bool
) -> None:
    """The pending consent was verified or rejected: it is pending no more."""
    await tx.execute(
        "UPDATE {consents_in_force_v3} SET pending_consent_id = NULL, rejected = $3 "
        "WHERE participant_id = $1 AND pending_consent_id = $2",
        participant_id,
        consent_id,
        rejected,
    )


class ConsentStateProjection:
    """The read model of consents in force (no effect outside its table)."""

    name = PROJECTION
    tables: Sequence[Table] = (CONSENTS_IN_FORCE,)

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if event.type not in FOLDED_TYPES:
            return
        decoded = decode(event)
        assert isinstance(decoded, Folded)
        await fold(tx, decoded)


class ConsentStates:
    """What identity's queries ask of the read model: the purposes in force for a participant
    today, and a bounded wait for the consent commands a caller names (read-your-writes)."""

    def __init__(self, read_model: ReadModel, wait_seconds: float = WAIT_SECONDS) -> None:
        self.read_model = read_model
        self.wait_seconds = wait_seconds
        self._layout = ConsentStateProjection()

    async def purposes_in_force(self, participant_id: UUID, today: date) -> frozenset[str]:
        """The purposes of the verified consent in force today (none: no such consent, or the
        read model has not been made yet, e.g. before the worker's first run)."""
        return (await self.in_force(participant_id, today)).purposes

    async def in_force(self, participant_id: UUID, today: date) -> ConsentInForce:
        """The participant's consent in force today and their withdrawals of `health_data`
        (nothing and none before the read model is made, e.g. before the worker's first run)."""
        async with self.read_model.query(self._layout) as tx:
            try:
                row = await tx.fetchrow(
                    "SELECT purposes, valid_until, health_withdrawals FROM {consents_in_force_v3} "
                    "WHERE participant_id = $1",
                    str(participant_id),
                )
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return NOTHING_IN_FORCE
                raise
        if row is None:
            return NOTHING_IN_FORCE
        purposes, valid_until, health_withdrawals = row[0], row[1], int(row[2])
        if valid_until is None or date.fromisoformat(valid_until) < today:
            return ConsentInForce(frozenset(), health_withdrawals)
        return ConsentInForce(frozenset(json.loads(purposes)), health_withdrawals)

    async def consent_in_force(self, participant_id: UUID, today: date) -> UUID | None:
        """The verified consent in force today, if any: none while one is only pending, once it
        was rejected, withdrawn, has expired, or the participant was erased (the guardians'
        entitlement, docs/adr/0053)."""
        row = await self._row(
            "SELECT consent_id, valid_until, closed FROM {consents_in_force_v3} "
            "WHERE participant_id = $1",
            participant_id,
        )
        if row is None or row[0] is None or row[1] is None or row[2]:
            return None
        return UUID(row[0]) if date.fromisoformat(row[1]) >= today else None

    async def consents_known(self, participant_id: UUID) -> frozenset[UUID]:
        """The participant's consents a guardian's code may be issued for: the one pending and
        the verified one in force (none after a rejection, a withdrawal or an erasure)."""
        row = await self._row(
            "SELECT consent_id, pending_consent_id, closed FROM {consents_in_force_v3} "
            "WHERE participant_id = $1",
            participant_id,
        )
        if row is None or row[2]:
            return frozenset()
        return frozenset(UUID(value) for value in row[:2] if value is not None)

    async def _row(self, sql: str, participant_id: UUID) -> Sequence[Any] | None:
        """The participant's row (None before the read model is made)."""
        async with self.read_model.query(self._layout) as tx:
            try:
                row: Sequence[Any] | None = await tx.fetchrow(sql, str(participant_id))
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return None
                raise
        return row

    async def states_of(
        self, participant_ids: Sequence[UUID], today: date
    ) -> dict[UUID, ConsentState]:
        """Where each participant's consent stands today (missing for all before the read model
        is made)."""
        states = dict.fromkeys(participant_ids, ConsentState.MISSING)
        async with self.read_model.query(self._layout) as tx:
            try:
                for participant_id in participant_ids:
                    row = await tx.fetchrow(
                        "SELECT consent_id, valid_until, closed, pending_consent_id, rejected, "
                        "erased FROM {consents_in_force_v3} WHERE participant_id = $1",
                        str(participant_id),
                    )
                    states[participant_id] = _state_of(row, today)
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return states
                raise
        return states

    async def await_tokens(self, tokens: Sequence[PositionToken]) -> None:
        """Wait, `wait_seconds` in all, until the consent commands named are applied. Identity's
        own tokens need no wait (a participant is read from the store); another service's are
        refused, since no read of identity is built from it."""
        for token in tokens:
            if token.source not in (CONSENT_SOURCE, "identity"):
                raise UnknownPositionSource(token.encode())
        deadline = time.monotonic() + self.wait_seconds
        for token in tokens:
            if token.source != CONSENT_SOURCE:
                continue
            remaining = max(0.0, deadline - time.monotonic())
            try:
                await self.read_model.wait_until(
                    PROJECTION, CONSENT_SOURCE, token.position, remaining, stream_id=token.stream_id
                )
            except NotApplied:
                raise NotYetVisible(token.encode(), self.wait_seconds) from None
