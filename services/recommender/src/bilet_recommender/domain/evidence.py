"""What the recommender knows about one participant and may act on: a fold, per participant, of
the facts other services published (identity, consent, diagnostics, career events) and of the
recommendations already issued.

It holds no readable personal data: ids, grade, region, season, scores and levels, closed-list
codes, and the accessibility needs only as the sealed value identity published (health data,
sealed with the participant's health key: the runtime opens it at the moment of recommending,
when a consent covering `health_data` is in force, and never stores it open). `Evidence` is a
frozen pydantic model, so a runtime keeps it as JSON (a faust table, a read-model row) and folds
it on; `evolve` is pure and total over `Fact`.
"""

from collections.abc import Callable
from datetime import date
from typing import TypeVar, assert_never
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentVerified,
    ConsentWithdrawn,
    ParticipantErased,
    Purpose,
)
from bilet.contracts.catalogue.diagnostics import StageCompleted
from bilet.contracts.catalogue.events import (
    BookingCancelled,
    CareerEventAttended,
    InterestShown,
    MentorFeedbackGiven,
    SeatBooked,
    TaskCompletion,
)
from bilet.contracts.catalogue.identity import (
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
    ParticipantRegistered,
)
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.contracts.sealed import FIRST_GENERATION, Sealed
from bilet.contracts.vocabulary import Code, Environment, InstrumentRef, Level, MappingRef, Stage

ALL_STAGES: frozenset[Stage] = frozenset(Stage)
# A stage's place in the programme's order (results are listed in it).
STAGE_ORDER: dict[Stage, int] = {stage: index for index, stage in enumerate(Stage)}
_T = TypeVar("_T")


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageResult(_Value):
    """A completed stage as the recommender uses it: the attempt and answer sheet it rests on,
    the instrument versions, and its scores (interests: environment scores 0–100) or levels."""

    attempt_id: UUID
    season: int
    stage: Stage
    answer_sheet_id: UUID
    answer_sheet_digest: str
    instruments: tuple[InstrumentRef, ...]
    environment_mapping: MappingRef | None = None
    environment_scores: tuple[tuple[Environment, int], ...] = ()
    knowledge_levels: tuple[tuple[Environment, Level], ...] = ()
    skill_levels: tuple[tuple[Code, Level], ...] = ()


class Attendance(_Value):
    booking_id: UUID
    career_event_id: UUID


class Rubric(_Value):
    """A mentor's rubric of an attended career event (never the sealed comment)."""

    feedback_id: UUID
    booking_id: UUID
    career_event_id: UUID
    task_completion: TaskCompletion
    interest_shown: InterestShown
    suggested_environments: tuple[Environment, ...]


class ConsentInForce(_Value):
    consent_id: UUID
    purposes: frozenset[Purpose]
    valid_until: date


class SealedNeeds(_Value):
    """The accessibility needs as identity sealed them, with the health key generation."""

    value: Sealed
    key_generation: int


class IssuedSet(_Value):
    season: int
    recommendation_set_id: UUID


class Evidence(_Value):
    participant_id: UUID
    erased: bool = False
    season: int | None = Field(default=None, description="The season identity last placed them in.")
    grade: int | None = None
    region_id: UUID | None = None
    school_id: UUID | None = None
    needs: SealedNeeds | None = None
    consent: ConsentInForce | None = None
    stages: tuple[StageResult, ...] = ()
    booked: tuple[Attendance, ...] = Field(default=(), description="Seats held, not attended.")
    attended: tuple[Attendance, ...] = ()
    rubrics: tuple[Rubric, ...] = ()
    issued: tuple[IssuedSet, ...] = Field(default=(), description="The last set of each season.")

    def allows(self, purpose: Purpose, on: date) -> bool:
        """A verified consent covering `purpose` is in force on `on`."""
        consent = self.consent
        return (
            not self.erased
            and consent is not None
            and purpose in consent.purposes
            and on <= consent.valid_until
        )

    def last_issued(self, season: int) -> UUID | None:
        """The set of recommendations last issued for `season` (a later one supersedes it)."""
        found = (s.recommendation_set_id for s in self.issued if s.season == season)
        return next(found, None)

    def completed_season(self) -> int | None:
        """The latest season in which all three stages are completed (None: none yet)."""
        seasons = {result.season for result in self.stages}
        complete = [s for s in seasons if {r.stage for r in self.results(s)} == ALL_STAGES]
        return max(complete, default=None)

    def results(self, season: int) -> tuple[StageResult, ...]:
        """The stage results of `season`, in the programme's order of stages."""
        own = [result for result in self.stages if result.season == season]
        return tuple(sorted(own, key=lambda result: STAGE_ORDER[result.stage]))

    def result(self, season: int, stage: Stage) -> StageResult:
        # The first in `results`' order: a stable sort by stage keeps a stage's own in theirs.
        return next(r for r in self.stages if r.season == season and r.stage is stage)


def initial(participant_id: UUID) -> Evidence:
    return Evidence(participant_id=participant_id)


Fact = (
    ParticipantRegistered
    | ParticipantDetailsCorrected
    | ParticipantMovedToSchool
    | ParticipantEnrolledInSeason
    | ConsentVerified
    | ConsentWithdrawn
    | ConsentPurposesWithdrawn
    | ParticipantErased
    | StageCompleted
    | SeatBooked
    | BookingCancelled
    | CareerEventAttended
    | MentorFeedbackGiven
    | RecommendationsIssued
)
FACT_TYPES: tuple[type[Fact], ...] = Fact.__args__


def evolve(evidence: Evidence, fact: Fact) -> Evidence:
    """The evidence after `fact` (about `evidence.participant_id`). After an erasure nothing is
    kept and nothing more is taken in: the participant's data is gone everywhere."""
    if evidence.erased:
        return evidence
    match fact:
        case ParticipantRegistered():
            sealed = SealedNeeds(value=fact.accessibility_needs, key_generation=FIRST_GENERATION)
            return _placed(
                evidence, fact.season, fact.grade, fact.region_id, fact.school_id, sealed
            )
        case ParticipantDetailsCorrected():
            grade = evidence.grade if fact.grade is None else fact.grade
            needs = evidence.needs
            if fact.accessibility_needs is not None and fact.key_generation is not None:
                needs = SealedNeeds(
                    value=fact.accessibility_needs, key_generation=fact.key_generation
                )
            return evidence.model_copy(update={"grade": grade, "needs": needs})
        case ParticipantMovedToSchool():
            return evidence.model_copy(
                update={
                    "grade": fact.grade,
                    "region_id": fact.to_region_id,
                    "school_id": fact.to_school_id,
                }
            )
        case ParticipantEnrolledInSeason():
            return _placed(
                evidence, fact.season, fact.grade, fact.region_id, fact.school_id, evidence.needs
            )
        case ConsentVerified():
            consent = ConsentInForce(
                consent_id=fact.consent_id,
                purposes=frozenset(fact.purposes),
                valid_until=fact.valid_until,
            )
            return evidence.model_copy(update={"consent": consent})
        case ConsentWithdrawn():
            if evidence.consent is None or evidence.consent.consent_id != fact.consent_id:
                return evidence
            return evidence.model_copy(update={"consent": None})
        case ConsentPurposesWithdrawn():
            in_force = evidence.consent
            if in_force is None or in_force.consent_id != fact.consent_id:
                return evidence
            remaining = in_force.model_copy(update={"purposes": frozenset(fact.remaining)})
            return evidence.model_copy(update={"consent": remaining})
        case ParticipantErased():
            return Evidence(participant_id=evidence.participant_id, erased=True)
        case StageCompleted():
            return _completed(evidence, fact)
        case SeatBooked():
            seat = Attendance(booking_id=fact.booking_id, career_event_id=fact.career_event_id)
            return evidence.model_copy(update={"booked": _put(evidence.booked, seat, seat.__eq__)})
        case BookingCancelled():
            kept = tuple(b for b in evidence.booked if b.booking_id != fact.booking_id)
            return evidence.model_copy(update={"booked": kept})
        case CareerEventAttended():
            seat = Attendance(booking_id=fact.booking_id, career_event_id=fact.career_event_id)
            booked = tuple(b for b in evidence.booked if b.booking_id != fact.booking_id)
            attended = _put(evidence.attended, seat, seat.__eq__)
            return evidence.model_copy(update={"booked": booked, "attended": attended})
        case MentorFeedbackGiven():
            return _rubric(evidence, fact)
        case RecommendationsIssued():
            return set_issued(evidence, fact.season, fact.recommendation_set_id)
        case _:
            assert_never(fact)


def set_issued(evidence: Evidence, season: int, recommendation_set_id: UUID) -> Evidence:
    """The evidence after a `RecommendationsIssued` of `season` (what `evolve` reads of it: the
    read side's projections decode no more of a set, ADR 0109)."""
    if evidence.erased:
        return evidence
    issued = IssuedSet(season=season, recommendation_set_id=recommendation_set_id)
    same_season = _put(evidence.issued, issued, lambda s: s.season == season)
    return evidence.model_copy(update={"issued": same_season})


def _placed(
    evidence: Evidence,
    season: int,
    grade: int,
    region_id: UUID,
    school_id: UUID,
    needs: SealedNeeds | None,
) -> Evidence:
    update = {"grade": grade, "region_id": region_id, "school_id": school_id, "needs": needs}
    if evidence.season is None or season >= evidence.season:
        update["season"] = season
    return evidence.model_copy(update=update)


def _completed(evidence: Evidence, fact: StageCompleted) -> Evidence:
    result = StageResult(
        attempt_id=fact.attempt_id,
        season=fact.season,
        stage=fact.stage,
        answer_sheet_id=fact.answer_sheet.answer_sheet_id,
        answer_sheet_digest=fact.answer_sheet.digest,
        instruments=_instruments(fact),
    )
    if fact.interests is not None:
        profile = fact.interests.environments
        scores = profile.scores.model_dump()
        result = result.model_copy(
            update={
                "environment_mapping": profile.mapping,
                "environment_scores": tuple((e, int(scores[e.value])) for e in Environment),
            }
        )
    if fact.professions_knowledge is not None:
        levels = tuple((k.environment, k.level) for k in fact.professions_knowledge.levels)
        result = result.model_copy(update={"knowledge_levels": levels})
    if fact.soft_skills is not None:
        skills = tuple((s.skill, s.level) for s in fact.soft_skills.levels)
        result = result.model_copy(update={"skill_levels": skills})
    # A stage is completed once a season; a later completion of it (a redelivery, a correction)
    # replaces the earlier one in its place.
    same = (fact.season, fact.stage)
    return evidence.model_copy(
        update={"stages": _put(evidence.stages, result, lambda r: (r.season, r.stage) == same)}
    )


def _put(items: tuple[_T, ...], item: _T, replaces: Callable[[_T], bool]) -> tuple[_T, ...]:
    """`items` with `item` in the place of the one it `replaces`, or appended: a redelivered
    fact leaves the order, and with it every published list, as it was."""
    if any(replaces(old) for old in items):
        return tuple(item if replaces(old) else old for old in items)
    return (*items, item)


def _instruments(fact: StageCompleted) -> tuple[InstrumentRef, ...]:
    if fact.interests is not None:
        used = (fact.interests.klimov, fact.interests.riasec)
        return tuple(result.instrument for result in used if result is not None)
    if fact.soft_skills is not None:
        return (fact.soft_skills.instrument,)
    assert fact.professions_knowledge is not None
    return (fact.professions_knowledge.instrument,)


def _rubric(evidence: Evidence, fact: MentorFeedbackGiven) -> Evidence:
    rubric = Rubric(
        feedback_id=fact.feedback_id,
        booking_id=fact.booking_id,
        career_event_id=fact.career_event_id,
        task_completion=fact.task_completion,
        interest_shown=fact.interest_shown,
        suggested_environments=fact.suggested_environments,
    )
    rubrics = _put(evidence.rubrics, rubric, lambda r: r.feedback_id == fact.feedback_id)
    return evidence.model_copy(update={"rubrics": rubrics})
