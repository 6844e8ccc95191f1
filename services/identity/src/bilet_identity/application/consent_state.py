"""Which purposes a participant's consent allows today, as identity knows it from the consent
service's stream: a small read model (`consents_in_force_v2`, one row per participant) folded from
`ConsentVerified`, `ConsentPurposesWithdrawn`, `ConsentRejected`, `ConsentWithdrawn` and
`ParticipantErased`, and the reader identity's queries ask before they show health data
(docs/adr/0019). It also counts the withdrawals of `health_data`, each of which destroyed a
generation of the health key: a correction that states health data again after one seals it
under the next generation (docs/adr/0026).

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
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts import decode
from bilet.contracts.catalogue import consent
from bilet.contracts.sealed import FIRST_GENERATION
from bilet.eventstore import RecordedEvent
from bilet.http.consistency import PositionToken
from bilet.projections import NotApplied, ReadModel, ReadModelTx, Table
from bilet_identity.application.errors import NotYetVisible, UnknownPositionSource

# Version 2 counts the withdrawals of `health_data` (`health_withdrawals`): a new name and table,
# so that its feed reads consent's history from the start and counts every one of them.
PROJECTION: Final = "identity_consent_v2"
# Where consent's events come from: the source name of its store (embedded) and of its topic.
CONSENT_SOURCE: Final = "consent"
HEALTH_DATA: Final = consent.Purpose.HEALTH_DATA.value
# How long a read waits for the consent tokens it carries (`BVB-Position`), in all.
WAIT_SECONDS: Final = 2.0

CONSENTS_IN_FORCE: Final = Table(
    "consents_in_force_v2",
    "participant_id TEXT PRIMARY KEY, consent_id TEXT, purposes TEXT NOT NULL, "
    "valid_until TEXT, closed BOOLEAN NOT NULL, health_withdrawals INTEGER NOT NULL DEFAULT 0",
)
_UPSERT: Final = (
    "INSERT INTO {consents_in_force_v2} "
    "(participant_id, consent_id, purposes, valid_until, closed) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (participant_id) DO UPDATE SET "
    "consent_id = excluded.consent_id, purposes = excluded.purposes, "
    "valid_until = excluded.valid_until, closed = excluded.closed"
)

_COUNT_HEALTH_WITHDRAWAL: Final = (
    "INSERT INTO {consents_in_force_v2} "
    "(participant_id, consent_id, purposes, valid_until, closed, health_withdrawals) "
    "VALUES ($1, NULL, '[]', NULL, FALSE, 1) ON CONFLICT (participant_id) DO UPDATE SET "
    "health_withdrawals = {consents_in_force_v2}.health_withdrawals + 1"
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

# The events `fold` looks at (the rest of consent's stream changes nothing here).
Folded = (
    consent.ConsentVerified
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
        "SELECT closed FROM {consents_in_force_v2} WHERE participant_id = $1", participant_id
    )
    return bool(closed)


async def _nothing_in_force(tx: ReadModelTx, participant_id: str, *, closed: bool) -> None:
    await tx.execute(_UPSERT, participant_id, None, "[]", None, closed)


async def fold(tx: ReadModelTx, event: Folded) -> None:
    """One consent event's effect on the participant's row."""
    participant_id = str(event.participant_id)
    match event:
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
        case consent.ConsentPurposesWithdrawn():
            await tx.execute(
                "UPDATE {consents_in_force_v2} SET purposes = $3 "
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
                "UPDATE {consents_in_force_v2} SET consent_id = NULL, purposes = '[]', "
                "valid_until = NULL WHERE participant_id = $1 AND consent_id = $2",
                participant_id,
                str(event.consent_id),
            )
        case consent.ConsentWithdrawn() | consent.ParticipantErased():
            # The participant withdrew (whichever consent the event names) or was erased:
            # nothing is in force again.
            await _nothing_in_force(tx, participant_id, closed=True)
        case _:
            assert_never(event)


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
                    "SELECT purposes, valid_until, health_withdrawals FROM {consents_in_force_v2} "
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
