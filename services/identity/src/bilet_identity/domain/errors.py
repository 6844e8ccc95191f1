"""Typed refusals of the identity deciders, each with a stable machine code.

The code is what the API puts into a problem's `code` and what clients branch on; the message is
for people and never holds a personal value (it may end up in a log).
"""

from collections.abc import Mapping
from datetime import date
from uuid import UUID


class DomainError(Exception):
    """A business rule refused a command; nothing was decided."""

    code: str = "domain_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, object] = details


class InvalidSnilsError(DomainError):
    """Not a СНИЛС: wrong shape or check number."""

    code = "invalid_snils"


class InvalidDetails(DomainError):
    """A personal detail is not acceptable (empty name, impossible birth date, …)."""

    code = "invalid_details"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.field = field


class BirthDateImplausibleForGrade(DomainError):
    """The birth date does not fit the grade (a typing error in one of them, most often)."""

    code = "birth_date_implausible_for_grade"

    def __init__(self, grade: int, born_from: date, born_to: date) -> None:
        super().__init__(
            f"A pupil of grade {grade} this school year is born between "
            f"{born_from.isoformat()} and {born_to.isoformat()}: check the birth date and the "
            "grade.",
            field="birth_date",
            grade=grade,
            born_from=born_from.isoformat(),
            born_to=born_to.isoformat(),
        )


class NotEligible(DomainError):
    """The pupil may not take part in the season; `reasons` says why (stable codes)."""

    code = "not_eligible"

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__(
            "The pupil is not eligible: " + ", ".join(reasons) + ".", reasons=list(reasons)
        )
        self.reasons = reasons


class DuplicateParticipant(DomainError):
    """The child already has a profile (same СНИЛС, same name and birth date)."""

    code = "duplicate_participant"

    def __init__(self, existing: UUID) -> None:
        super().__init__("This child is already registered.")
        self.existing = existing


class DuplicateNeedsReview(DomainError):
    """The СНИЛС is registered for a child with another name or birth date: a person must look."""

    code = "duplicate_needs_review"

    def __init__(self, existing: UUID) -> None:
        super().__init__(
            "This СНИЛС is registered with another name or birth date; flagged for review."
        )
        self.existing = existing


class SnilsTaken(DomainError):
    """The СНИЛС is another child's: the federal operator found this name and birth date to be
    someone else than its holder (docs/adr/0043), so it is not flagged for review again."""

    code = "snils_taken"

    def __init__(self) -> None:
        super().__init__("This СНИЛС is registered for another child: check the number.")


class ParticipantMergedAway(DomainError):
    """The profile was merged into another one (docs/adr/0043): closed, answered by the kept id."""

    code = "participant_merged"

    def __init__(self, kept: UUID) -> None:
        super().__init__(
            "This profile was merged into another one of the same child; use the kept profile.",
            kept_participant_id=str(kept),
        )
        self.kept = kept


class ParticipantAlreadyLeft(DomainError):
    """The participant left the school or the programme already (docs/adr/0050)."""

    code = "participant_left"

    def __init__(self) -> None:
        super().__init__("This participant has left the programme already.")


class GuardianNotLinked(DomainError):
    """No link of this guardian's account to the participant (or removed already)."""

    code = "guardian_not_linked"

    def __init__(self) -> None:
        super().__init__("This guardian's account is not linked to the participant.")


class UnknownReview(DomainError):
    """No duplicate review has this id (or its child was erased since)."""

    code = "unknown_review"

    def __init__(self) -> None:
        super().__init__("No duplicate review has this id.")


class ReviewAlreadyResolved(DomainError):
    """The duplicate review was resolved already: a resolution is not changed by another one."""

    code = "review_resolved"

    def __init__(self) -> None:
        super().__init__("This duplicate review is resolved already.")


class SameChildOtherSnils(DuplicateNeedsReview):
    """A pupil of the school is registered with this name and birth date under another СНИЛС:
    one child typed twice, most likely (a person must look; docs/adr/0041)."""

    def __init__(self, existing: UUID) -> None:
        DomainError.__init__(
            self,
            "A pupil of this school is registered with this name and birth date under another "
            "СНИЛС; flagged for review.",
        )
        self.existing = existing


class ParticipantExists(DomainError):
    """A participant with this id is registered already."""

    code = "duplicate_participant"

    def __init__(self, participant_id: UUID) -> None:
        super().__init__("A participant with this id is registered already.")
        self.existing = participant_id


class UnknownParticipant(DomainError):
    code = "unknown_participant"

    def __init__(self) -> None:
        super().__init__("No such participant.")


class UnknownSchool(DomainError):
    code = "unknown_school"

    def __init__(self) -> None:
        super().__init__("No such school is registered.")


class SchoolNotFound(DomainError):
    """A school named in the path is not registered (in a body it is `unknown_school`, 422)."""

    code = "school_not_found"

    def __init__(self) -> None:
        super().__init__("No such school is registered.")


class UnknownRegion(DomainError):
    code = "unknown_region"

    def __init__(self) -> None:
        super().__init__("No such region is admitted.")


class UnknownSeason(DomainError):
    code = "unknown_season"

    def __init__(self, season: int) -> None:
        super().__init__(f"No rules are published for season {season}.", season=season)


class SeasonNotFound(DomainError):
    """A season named in the path has no rules (in a body it is `unknown_season`, 422)."""

    code = "season_not_found"

    def __init__(self, season: int) -> None:
        super().__init__(f"No rules are published for season {season}.", season=season)


class InvalidSeasonRules(DomainError):
    code = "invalid_season_rules"


class SeasonStarted(DomainError):
    """A revision would move the start of a season that has begun: its start is history."""

    code = "season_started"

    def __init__(self, season: int, started_on: date) -> None:
        super().__init__(
            f"Season {season} started on {started_on.isoformat()}: a revision keeps its start "
            "and applies from the day it is published.",
            season=season,
            started_on=started_on.isoformat(),
        )


class SeasonClosed(DomainError):
    """The season has ended: its rules are what past results were scored under."""

    code = "season_closed"

    def __init__(self, season: int, ended_on: date) -> None:
        super().__init__(
            f"Season {season} ended on {ended_on.isoformat()}: its rules are no longer revised.",
            season=season,
            ended_on=ended_on.isoformat(),
        )


class InvalidWindow(DomainError):
    code = "invalid_diagnostics_window"


class RegionAlreadyAdmitted(DomainError):
    code = "region_already_admitted"

    def __init__(self, season: int) -> None:
        super().__init__(f"The region is admitted to season {season} already.", season=season)


class RegionNotAdmitted(DomainError):
    code = "region_not_admitted"

    def __init__(self, message: str = "The region is not admitted to the programme.") -> None:
        super().__init__(message)


class DuplicateSchool(DomainError):
    code = "duplicate_school"

    def __init__(self, existing: UUID) -> None:
        super().__init__("This school is registered already.", existing_school_id=str(existing))
        self.existing = existing


class SameSchool(DomainError):
    code = "same_school"

    def __init__(self) -> None:
        super().__init__("The participant is at this school already.")


class AlreadyEnrolled(DomainError):
    code = "already_enrolled"

    def __init__(self, season: int) -> None:
        super().__init__(f"The participant takes part in season {season} already.", season=season)


class SeasonNotAfterCurrent(DomainError):
    code = "season_not_after_current"

    def __init__(self, season: int) -> None:
        super().__init__(
            f"Season {season} is not after the participant's current season.", season=season
        )


class NothingToCorrect(DomainError):
    code = "nothing_to_correct"

    def __init__(self) -> None:
        super().__init__("A correction changes at least one detail.")


class HealthDataWithdrawn(DomainError):
    """Health data stated after a withdrawal of the consent to process it destroyed its key, while
    no consent in force covers it again (docs/adr/0017, 0026): it is not recorded."""

    code = "health_data_withdrawn"

    def __init__(self) -> None:
        super().__init__(
            "The consent to process this participant's health data was withdrawn and the data "
            "destroyed; health data is recorded for them again only under a new consent that "
            "covers it."
        )


class TooManyGuardians(DomainError):
    code = "too_many_guardians"

    def __init__(self, limit: int) -> None:
        super().__init__(f"A participant has at most {limit} linked guardians.", limit=limit)
