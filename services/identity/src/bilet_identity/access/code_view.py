"""Which pupils' codes are still open, by pupil: a small in-process view of the binding-code
streams, caught up before each use, so that a new class list can cancel the earlier unused codes
of its pupils (docs/adr/0053). Codes appear only as keyed hashes."""

import asyncio
from typing import Final
from uuid import UUID

from bilet.eventstore import START, EventStore
from bilet_identity.application.eventlog import catch_up
from bilet_identity.domain.internal import (
    BINDING_CODE_CATEGORY,
    BindingCodeCancelled,
    BindingCodeIssued,
    BindingCodeRedeemed,
    BindingPurpose,
)

_CATEGORIES: Final = (BINDING_CODE_CATEGORY,)


class OpenPupilCodes:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self._position = START
        self._pupil_of: dict[str, UUID] = {}  # open code key -> its pupil

    async def of_pupil(self, participant_id: UUID) -> list[str]:
        """The keys of the pupil's codes neither used nor cancelled (expired ones included:
        cancelling them changes nothing a pupil could notice)."""
        async with self._lock:
            self._position = await catch_up(
                self._store, self._position, self._apply, categories=_CATEGORIES
            )
        return sorted(key for key, pid in self._pupil_of.items() if pid == participant_id)

    def _apply(self, event: object, position: int) -> None:
        match event:
            case BindingCodeIssued() if event.purpose is BindingPurpose.PUPIL:
                self._pupil_of[event.code_key] = event.participant_id
            case BindingCodeRedeemed() | BindingCodeCancelled():
                self._pupil_of.pop(event.code_key, None)
            case _:
                pass  # a guardian's code: a class list never replaces it
