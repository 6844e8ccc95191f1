"""Which pupils' codes are still open, by pupil: a small in-process view of the binding-code
streams, caught up before each use, so that a new class list can cancel the earlier unused codes
of its pupils (docs/adr/0053). Codes appear only as keyed hashes."""

from bilet_identity.access.pupil_index import PupilIndex
from bilet_identity.domain.internal import (
    BINDING_CODE_CATEGORY,
    BindingCodeCancelled,
    BindingCodeIssued,
    BindingCodeRedeemed,
    BindingPurpose,
)


class OpenPupilCodes(PupilIndex):
    """The keys of each pupil's codes neither used nor cancelled (expired ones included:
    cancelling them changes nothing a pupil could notice)."""

    category = BINDING_CODE_CATEGORY

    def _apply(self, event: object, position: int) -> None:
        match event:
            case BindingCodeIssued() if event.purpose is BindingPurpose.PUPIL:
                self._pupil_of[event.code_key] = event.participant_id
            case BindingCodeRedeemed() | BindingCodeCancelled():
                self._pupil_of.pop(event.code_key, None)
            case _:
                pass  # a guardian's code: a class list never replaces it
