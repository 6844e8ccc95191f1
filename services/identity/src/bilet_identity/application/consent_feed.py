"""What identity follows of the consent service's stream, as one projection (one feed, one
checkpoint, in-process embedded or `python -m bilet_identity.worker` distributed): the consents
in force (`consent_state`, read before health data is shown) and the erasures, on which the
erased participant's reservation and profile are purged (`erasures`, docs/adr/0016).

The purge is an effect outside the read-model transaction, which a read model's projection must
not have. It is safe because the purge is idempotent: the runtime applying an event again (a
rollback, a duplicate, a replay or a rebuild) purges nothing more; the runtime's checkpoint makes
sure each erasure is applied at least once. Were the purge to fail, the consent state's change
of the same event rolls back with it and both are applied again.
"""

from typing import Final

from bilet.contracts import decode
from bilet.contracts.catalogue.consent import ParticipantErased
from bilet.eventstore import RecordedEvent
from bilet.projections import ReadModelTx
from bilet_identity.application.consent_state import ConsentStateProjection
from bilet_identity.application.erasures import Release

ERASED: Final = ParticipantErased.event_type


class ConsentFeedProjection(ConsentStateProjection):
    """The consent-state read model, plus `release` on each `ParticipantErased`.

    Its name is the read model's (`identity_consent_v3`): a new name when this replaced the
    erasure-only projection (`identity_erasure_release_v1`), and again when it began counting
    the withdrawals of `health_data` (docs/adr/0026), and again when it began following
    submissions and rejections (docs/adr/0041), so that its feed reads consent's history
    from the start and the table holds every consent; the erasures it meets again purge nothing
    more."""

    def __init__(self, release: Release) -> None:
        self._release = release

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        await super().apply(tx, event)
        if event.type == ERASED:
            erased = decode(event)
            assert isinstance(erased, ParticipantErased)
            await self._release(erased.participant_id)
