"""What every group of identity's use cases stands on: the store, the key-sealed fields, the audit
trail, the keyed hashes, the catalogue and roster views, the consents in force and the command path
(`Transactor`)."""

from collections.abc import Callable
from datetime import date
from typing import Final
from uuid import UUID

from bilet.application import Attempt, Transactor
from bilet.audit import AuditLog
from bilet.contracts import health_key_subject
from bilet.contracts.catalogue.identity import (
    RegionAdmitted,
    SchoolRegistered,
    SeasonRulesPublished,
)
from bilet.crypto import FieldCipher, SubjectsAhead
from bilet.eventstore import EventStore
from bilet_identity.application import streams
from bilet_identity.application.catalogue import CatalogueView
from bilet_identity.application.consent_state import ConsentStates
from bilet_identity.application.errors import VersionConflict
from bilet_identity.application.eventlog import EVENT_LOG
from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.application.roster import RosterView
from bilet_identity.domain.errors import UnknownParticipant
from bilet_identity.domain.participant import Participant
from bilet_identity.domain.people import DEFAULT_AGE_BAND, GradeAgeBand

REFERENCE_CATEGORIES: Final = (
    SchoolRegistered.stream_category,
    RegionAdmitted.stream_category,
    SeasonRulesPublished.stream_category,
)


def _keys_of_new_participant(participant_id: UUID) -> tuple[str, str]:
    """The keys a registration seals with: the participant's and the first health key."""
    return str(participant_id), health_key_subject(participant_id)


class IdentityCore:
    def __init__(
        self,
        store: EventStore,
        cipher: FieldCipher,
        audit: AuditLog,
        pseudonymiser: Pseudonymiser,
        *,
        today: Callable[[], date] = date.today,
        consents: ConsentStates | None = None,
        age_band: GradeAgeBand = DEFAULT_AGE_BAND,
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.audit = audit
        self.pseudonyms = pseudonymiser
        self.today = today
        # None: no consent is known (no read model of consent's stream), so health data is
        # withheld from everyone (docs/adr/0019).
        self.consents = consents
        self.age_band = age_band  # how old a pupil of a grade may plausibly be
        self.catalogue = CatalogueView(store)
        self.roster = RosterView(store)
        # The school, region and season streams every registration decides on are folded once
        # and brought up to date by version, not read and folded whole each time.
        self.transactor = Transactor(
            store, cipher, EVENT_LOG, VersionConflict, kept_categories=REFERENCE_CATEGORIES
        )
        # The roster applies this process's commits as they are made (no read back).
        self.transactor.on_commit(self.roster.committed)
        # New participants' ids, with their participant and health keys made ahead in batches:
        # a registration does not create and store keys while it commits (docs/adr/0066).
        self.new_participants = SubjectsAhead(cipher, _keys_of_new_participant)

    async def _existing(self, attempt: Attempt, participant_id: UUID) -> Participant:
        """The participant's state, read for this attempt; unknown when never registered."""
        state = await attempt.state(streams.participant(participant_id))
        if state is None:
            raise UnknownParticipant()
        return state
