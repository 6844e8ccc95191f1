"""Facts of other services as the recommender receives them, built for tests (its own and the
runtimes'): a participant registered, consented, with the three stages completed, at career
events. Sealed fields hold well-formed envelopes that open with no key: the domain never opens
them."""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from bilet.contracts.catalogue.consent import ConsentVerified, Purpose
from bilet.contracts.catalogue.diagnostics import (
    AnswerSheetRef,
    EnvironmentProfile,
    EnvironmentScores,
    InterestsResult,
    KlimovResult,
    KlimovScores,
    KnowledgeLevel,
    ProfessionsKnowledgeResult,
    SkillLevel,
    SoftSkillsResult,
    StageCompleted,
)
from bilet.contracts.catalogue.events import (
    CareerEventAttended,
    CareerEventFormat,
    CareerEventLevel,
    CareerEventPublished,
    CareerEventSession,
    InterestShown,
    MentorFeedbackGiven,
    TaskCompletion,
)
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.sealed import SealedValue
from bilet.contracts.vocabulary import (
    AccessibilityNeed,
    Environment,
    GradeRange,
    Instrument,
    InstrumentRef,
    Level,
    MappingRef,
    Stage,
)
from bilet.crypto.fields import ENVELOPE_TAG
from bilet_recommender.domain import evidence as evidence_fold
from bilet_recommender.domain.evidence import Evidence, Fact

SEASON = 2026
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def sealed(tag: str = "x") -> SealedValue:
    """A well-formed envelope (its ciphertext differs by `tag`)."""
    return SealedValue.model_validate(
        {ENVELOPE_TAG: "aesgcm-v1", "kid": "test", "n": "AAAAAAAAAAAAAAAA", "ct": f"{tag:A<24}"}
    )


def registered(participant_id: UUID, region_id: UUID, grade: int = 8) -> ParticipantRegistered:
    return ParticipantRegistered(
        participant_id=participant_id,
        school_id=uuid4(),
        region_id=region_id,
        season=SEASON,
        grade=grade,
        full_name=sealed("name"),
        birth_date=sealed("birth"),
        snils=sealed("snils"),
        health_limitations=sealed("health"),
        accessibility_needs=sealed("needs"),
    )


def verified(
    participant_id: UUID, *purposes: Purpose, valid_until: date = date(2027, 8, 31)
) -> ConsentVerified:
    return ConsentVerified(
        participant_id=participant_id,
        consent_id=uuid4(),
        purposes=purposes or tuple(Purpose),
        valid_until=valid_until,
    )


def _sheet() -> AnswerSheetRef:
    return AnswerSheetRef(answer_sheet_id=uuid4(), item_count=20, digest="a" * 64)


def interests(
    participant_id: UUID, scores: dict[Environment, int], season: int = SEASON
) -> StageCompleted:
    """The interests stage with these environment scores (the rest 0)."""
    all_scores = {e.value: scores.get(e, 0) for e in Environment}
    ranked = sorted(Environment, key=lambda e: -all_scores[e.value])
    klimov = KlimovResult(
        instrument=InstrumentRef(instrument=Instrument.KLIMOV_DDO, version="1.0.0"),
        scores=KlimovScores(nature=4, technology=4, person=4, sign_system=4, artistic_image=4),
    )
    profile = EnvironmentProfile(
        mapping=MappingRef(mapping_id="interests_environments", version="1.0.0"),
        scores=EnvironmentScores(**all_scores),
        leading=tuple(ranked[:3]),
    )
    return StageCompleted(
        attempt_id=uuid4(),
        participant_id=participant_id,
        season=season,
        stage=Stage.INTERESTS,
        answer_sheet=_sheet(),
        interests=InterestsResult(klimov=klimov, environments=profile),
    )


def soft_skills(
    participant_id: UUID, teamwork: Level = Level.BASIC, season: int = SEASON
) -> StageCompleted:
    return StageCompleted(
        attempt_id=uuid4(),
        participant_id=participant_id,
        season=season,
        stage=Stage.SOFT_SKILLS,
        answer_sheet=_sheet(),
        soft_skills=SoftSkillsResult(
            instrument=InstrumentRef(instrument=Instrument.SOFT_SKILLS_BANK, version="1.0.0"),
            levels=(SkillLevel(skill="teamwork", level=teamwork, score=4, max_score=8),),
        ),
    )


def knowledge(
    participant_id: UUID, levels: dict[Environment, Level], season: int = SEASON
) -> StageCompleted:
    """The knowledge-of-professions stage (environments not named: initial)."""
    return StageCompleted(
        attempt_id=uuid4(),
        participant_id=participant_id,
        season=season,
        stage=Stage.PROFESSIONS_KNOWLEDGE,
        answer_sheet=_sheet(),
        professions_knowledge=ProfessionsKnowledgeResult(
            instrument=InstrumentRef(
                instrument=Instrument.PROFESSIONS_KNOWLEDGE_BANK, version="1.0.0"
            ),
            levels=tuple(
                KnowledgeLevel(
                    environment=e, level=levels.get(e, Level.INITIAL), score=1, max_score=3
                )
                for e in Environment
            ),
        ),
    )


def career_event(
    region_id: UUID,
    *environments: Environment,
    starts_at: datetime = NOW + timedelta(days=7),
    capacity: int = 10,
    grades: tuple[int, int] = (6, 11),
    accommodates: tuple[AccessibilityNeed, ...] = (),
    title: str = "Профпроба «Мастер»",
) -> CareerEventPublished:
    return CareerEventPublished(
        career_event_id=uuid4(),
        region_id=region_id,
        season=SEASON,
        organiser_id=uuid4(),
        title=title,
        description=None,
        profession="master",
        environments=environments,
        level=CareerEventLevel.INTRODUCTORY,
        format=CareerEventFormat.ONLINE,
        venue=None,
        municipality="Луга",
        sessions=(
            CareerEventSession(
                session_id=uuid4(),
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=2),
                capacity=capacity,
            ),
        ),
        eligible_grades=GradeRange(lowest=grades[0], highest=grades[1]),
        accommodates=accommodates,
        mentors=(),
    )


def attended(participant_id: UUID, published: CareerEventPublished) -> CareerEventAttended:
    return CareerEventAttended(
        career_event_id=published.career_event_id,
        session_id=published.sessions[0].session_id,
        booking_id=uuid4(),
        participant_id=participant_id,
    )


def feedback(
    attendance: CareerEventAttended,
    interest: InterestShown = InterestShown.HIGH,
    task: TaskCompletion = TaskCompletion.COMPLETED,
    suggested: tuple[Environment, ...] = (),
) -> MentorFeedbackGiven:
    return MentorFeedbackGiven(
        career_event_id=attendance.career_event_id,
        feedback_id=uuid4(),
        booking_id=attendance.booking_id,
        participant_id=attendance.participant_id,
        mentor_id=uuid4(),
        task_completion=task,
        skills_shown=(),
        interest_shown=interest,
        suggested_environments=suggested,
        comment=sealed("comment"),
    )


def evidence_of(participant_id: UUID, *facts: Fact) -> Evidence:
    """The evidence folded from `facts`, from the start."""
    state = evidence_fold.initial(participant_id)
    for fact in facts:
        state = evidence_fold.evolve(state, fact)
    return state


def completed_pupil(
    participant_id: UUID,
    region_id: UUID,
    scores: dict[Environment, int],
    levels: dict[Environment, Level] | None = None,
    grade: int = 8,
    teamwork: Level = Level.BASIC,
) -> tuple[Fact, ...]:
    """A pupil registered, with a consent for every purpose and all three stages completed."""
    return (
        registered(participant_id, region_id, grade),
        verified(participant_id),
        interests(participant_id, scores),
        soft_skills(participant_id, teamwork),
        knowledge(participant_id, levels or {}),
    )
