"""What identity does when the consent service has destroyed a participant's data
(`ParticipantErased`): it purges the participant's uniqueness reservation and internal profile
from its store (`EventStore.purge_stream`, storage that really forgets), so that the keyed hashes
of the child's СНИЛС, name and birth date are kept nowhere and the child can be registered again.

The published `participant-<id>` stream stays: its personal fields are sealed under the destroyed
key and read as erased. See docs/adr/0016-forgetting-the-reservation.md. The projection that
feeds it is `consent_feed.ConsentFeedProjection`.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Final
from uuid import UUID

from bilet.application import MAX_ATTEMPTS
from bilet.audit import Access, AuditLog
from bilet.eventstore import EventStore, WrongExpectedVersion
from bilet.http.auth import Principal, Role
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.eventlog import EVENT_LOG, decode_event
from bilet_identity.application.inputs import CommandContext
from bilet_identity.domain import profile as profiles
from bilet_identity.domain import reservation as reservations
from bilet_identity.domain.internal import (
    PURGEABLE_CATEGORIES,
    ProfileRecorded,
    ReservationKeyChanged,
)

_log = logging.getLogger(__name__)

RELEASE_ACTOR: Final = "identity-erasure-release"
# What a release destroys, as the audit trail names it (ids and field names only).
RELEASED_FIELDS: Final = ("reservation_key", "person_key", "profile")


class ReservationRelease:
    """The purge itself, over nothing but identity's store and audit trail: the worker runs it
    without the key store or the pseudonym key (it reads no personal field, hashes nothing)."""

    def __init__(
        self,
        store: EventStore,
        audit: AuditLog,
        forget_views: Callable[[UUID], None] | None = None,
    ) -> None:
        """`forget_views`: what this process's in-memory views forget of the participant, told
        in the same step as the profile's purge commits (`purge_stream(then=...)`: before
        anything else is awaited), so no request sees the purge in the store and the views
        still holding them."""
        self.store = store
        self.audit = audit
        self.forget_views = forget_views
        # Only the reservations and profiles, never relayed, may be purged; the published
        # streams and the audit trail never.
        store.allow_purging(PURGEABLE_CATEGORIES)

    async def __call__(self, participant_id: UUID) -> bool:
        """Purge what identity keeps of an erased participant outside the published events:
        each reservation of their profile's history that they hold (or that nobody holds any
        more), then the profile. Safe to run again, and after a crash half-way: the profile,
        which names the reservations, goes last. True when something was purged."""
        profile_stream = profiles.stream_id(participant_id)
        keys: list[str] = []
        for record in await self.store.read_stream(profile_stream):
            event = decode_event(record, record.stream_id)
            if isinstance(event, ProfileRecorded | ReservationKeyChanged):
                keys.append(event.reservation_key)
        purged = False
        for key in dict.fromkeys(keys):
            purged |= await self._release(key, participant_id)

        def forget() -> None:
            # Nor kept in this process's cache of decoded events (the API's own cipher also
            # drops them once it learns the erasure: `EventLog.forget_key_subject`).
            EVENT_LOG.forget(str(participant_id))
            if self.forget_views is not None:
                self.forget_views(participant_id)

        # Told right after the purge's commit, before the store goes on (SQLite's WAL may wait
        # for readers): no request sees the profile purged and the views still holding it.
        purged |= await self.store.purge_stream(profile_stream, then=forget)
        if purged:
            ctx = CommandContext(Principal(subject=RELEASE_ACTOR, role=Role.OPERATOR))
            await self.audit.record(
                ctx.audit(Access.ERASE, participant_id, "release_reservation", RELEASED_FIELDS)
            )
            _log.info(
                "released an erased participant's reservation",
                extra={"subject": str(participant_id)},
            )
        return purged

    async def _release(self, key: str, participant_id: UUID) -> bool:
        """Purge the reservation if the erased child holds it, or nobody does, as read: the
        purge expects the version read, so a child who took the released number meanwhile
        keeps their claim (the purge is refused; read again and decide again)."""
        for _ in range(MAX_ATTEMPTS):
            holder, version = await self._holder(key)
            # Held by another child now (this one's СНИЛС was corrected away and the number
            # given to someone else): that child's reservation stays.
            if version is None or holder not in (participant_id, None):
                return False
            try:
                return await self.store.purge_stream(reservations.stream_id(key), version)
            except WrongExpectedVersion:
                continue
        raise RuntimeError(f"the reservation kept changing while it was released ({key[:8]}…)")

    async def _holder(self, key: str) -> tuple[UUID | None, int | None]:
        """Who holds the reservation, and the version of its stream (None: no stream)."""
        state = reservations.initial
        version: int | None = None
        for record in await self.store.read_stream(reservations.stream_id(key)):
            event = decode_event(record, record.stream_id)
            assert isinstance(event, reservations.ReservationEvent)
            state = reservations.evolve(state, event)
            version = record.version
        return (None if state is None else state.holder), version


class ErasureRelease(IdentityCore):
    async def release_erased(self, participant_id: UUID) -> bool:
        """`ReservationRelease` in the API process (embedded): the catalogue view's review
        requests, which name the holder, and the roster's surname index forget the participant
        too."""
        return await ReservationRelease(self.store, self.audit, self._forget)(participant_id)

    def _forget(self, participant_id: UUID) -> None:
        self.roster.forget(participant_id)
        self.catalogue.reviews[:] = [
            r for r in self.catalogue.reviews if r.participant_id != participant_id
        ]


Release = Callable[[UUID], Awaitable[bool]]
