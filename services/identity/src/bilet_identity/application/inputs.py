"""What identity's use cases take and give: a pupil as a school registers them (from a form or a
class-list row alike), a correction, and what a command or query answers."""

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from bilet.application import Outcome, RequestContext
from bilet.contracts.catalogue.identity import CorrectionReason
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet_identity.application.access import HealthWithheld, Visibility
from bilet_identity.application.details import Personal
from bilet_identity.domain.errors import DomainError
from bilet_identity.domain.participant import Participant
from bilet_identity.domain.people import RUSSIA, HealthLimitationKind
from bilet_identity.domain.profile import Profile

# Who asks, and the correlation id their request carries.
CommandContext = RequestContext


@dataclass(frozen=True)
class PupilInput:
    """A pupil as the school registers them, by form or class list (plaintext, typed; names and
    СНИЛС are checked by the domain). The one shape between the edge and the domain."""

    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    snils: str
    grade: int
    citizenship: str = RUSSIA
    residence_region_id: UUID | None = None
    home_schooled: bool = False
    has_health_limitations: bool = False
    health_limitation_kind: HealthLimitationKind | None = None
    accessibility_needs: tuple[AccessibilityNeed, ...] = ()
    season: int | None = None  # None: the season in force today
    class_letter: str | None = None  # 7«Б»: Б (checked by the domain)

    def __repr__(self) -> str:
        return "PupilInput(<hidden>)"


@dataclass(frozen=True)
class CorrectionInput:
    """What changes; None leaves a detail as it is (an empty middle name removes it)."""

    reason: CorrectionReason = CorrectionReason.TYPING_ERROR
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    birth_date: date | None = None
    snils: str | None = None
    grade: int | None = None
    has_health_limitations: bool | None = None
    health_limitation_kind: HealthLimitationKind | None = None
    accessibility_needs: tuple[AccessibilityNeed, ...] | None = None
    class_letter: str | None = None  # "" removes it

    @property
    def changes_details(self) -> bool:
        """Whether a detail of the participant's own events is stated (beside the letter)."""
        details = (
            self.last_name,
            self.first_name,
            self.middle_name,
            self.birth_date,
            self.snils,
            self.grade,
            self.has_health_limitations,
            self.accessibility_needs,
        )
        return any(value is not None for value in details)

    def __repr__(self) -> str:
        return "CorrectionInput(<hidden>)"


@dataclass(frozen=True)
class Committed:
    """What a command did: the read-your-writes token, and the id and stream version of the
    aggregate it created or changed."""

    position: int
    id: UUID | None = None
    version: int | None = None
    appended: bool = True  # False: nothing new was recorded (the command asked for what was)

    @classmethod
    def of(
        cls, outcome: Outcome[object], stream_id: str | None = None, id: UUID | None = None
    ) -> "Committed":
        """The commit of `outcome`, naming `stream_id`'s version (the aggregate's)."""
        version = None if stream_id is None else outcome.version(stream_id)
        return cls(outcome.position, id, version, outcome.appended)


@dataclass(frozen=True)
class ParticipantView:
    participant: Participant
    profile: Profile | None
    version: int
    position: int
    visibility: Visibility
    personal: Personal | None  # None: the caller sees pseudonymous facts only
    # Why the health data is not shown to a caller who sees `personal` (None: it is shown).
    health_withheld: HealthWithheld | None = None


@dataclass(frozen=True)
class RowOutcome:
    line: int
    status: str  # registered | already_registered | rejected
    participant_id: UUID | None = None
    error: DomainError | None = None


@dataclass(frozen=True)
class ImportReport:
    rows: list[RowOutcome]
    position: int

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)
