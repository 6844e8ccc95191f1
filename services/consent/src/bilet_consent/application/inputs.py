"""What consent's use cases take and give: a consent form as the school enters it, a guardian's
written request, and what a command or a query answers."""

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from bilet.application import Outcome, RequestContext
from bilet.contracts.catalogue.consent import Purpose, Relationship
from bilet_consent.application.access import Visibility
from bilet_consent.domain import consent as consents
from bilet_consent.domain.consent import Consent
from bilet_consent.domain.guardian import Guardian

# Who asks, the correlation id of their request, and the position tokens it carried.
CommandContext = RequestContext


@dataclass(frozen=True)
class Committed:
    """What a command did: the read-your-writes token and the consent it concerned."""

    position: int
    participant_id: UUID
    consent_id: UUID
    version: int | None
    document_id: UUID | None = None

    @property
    def stream_id(self) -> str:
        return consents.stream_id(self.participant_id)

    @classmethod
    def of(
        cls,
        outcome: Outcome[object],
        participant_id: UUID,
        consent_id: UUID,
        document_id: UUID | None = None,
    ) -> "Committed":
        """The commit of `outcome` on the participant's (published) consent stream."""
        version = outcome.version(consents.stream_id(participant_id))
        return cls(outcome.position, participant_id, consent_id, version, document_id)


@dataclass(frozen=True)
class SubmissionInput:
    """A consent form as the school enters it (plaintext; checked by the domain)."""

    participant_id: UUID
    form_version: str
    purposes: tuple[Purpose, ...]
    signed_on: date
    valid_until: date
    relationship: Relationship
    guardian: Guardian = field(repr=False)
    # The signer's reference (their account id if the school knows it): it names the signer in
    # GuardianLinked and grants NO access; a guardian's access comes from the `children` claim.
    guardian_id: UUID | None = None

    def __repr__(self) -> str:
        return f"SubmissionInput(participant_id={self.participant_id}, <hidden>)"


@dataclass(frozen=True)
class WrittenRequest:
    """The guardian's written request a school withdraws on: its registration number (a document
    number, no names: it outlives the destruction) and the day the school received it."""

    reference: str
    received_on: date


@dataclass(frozen=True)
class ConsentView:
    participant_id: UUID
    consent: Consent
    visibility: Visibility
    # field → plaintext (or ERASED), masked for parties; never in a repr (logs, tracebacks)
    guardian: dict[str, object] = field(repr=False)
    erase_by: date | None
    erased: bool
    version: int
    position: int


@dataclass(frozen=True)
class StatusView:
    participant_id: UUID
    state: str  # none | pending | verified | expired | rejected | withdrawn | erased
    consent: Consent | None
    purposes: tuple[Purpose, ...]
    valid_until: date | None
    erase_by: date | None
    pending: int
    position: int


@dataclass(frozen=True)
class ErasureOutcome:
    participant_id: UUID
    record_id: UUID
    documents_deleted: int
    position: int


@dataclass(frozen=True)
class ErasureReport:
    as_of: date
    due: int
    erased: list[ErasureOutcome]
    skipped: int
    # Participants whose stream kept changing under the job: tried again on its next run.
    contended: int = 0
