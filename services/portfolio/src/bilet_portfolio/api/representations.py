"""What the routes answer: the application's views of a portfolio and of a participant in a list,
as the API's response models, one function per section."""

from typing import Any

from bilet_portfolio.api.models import (
    BookingModel,
    CareerEventModel,
    ConsentModel,
    DisplayNameModel,
    FeedbackModel,
    GuardianModel,
    HistoryModel,
    InstrumentModel,
    ParticipantSummaryModel,
    PortfolioModel,
    ProgressModel,
    RecommendationsModel,
    RegionModel,
    SchoolModel,
    SessionModel,
    SkillShownModel,
    StageModel,
    VenueModel,
    WindowModel,
)
from bilet_portfolio.application.lists import Summary
from bilet_portfolio.application.personal_fields import DisplayName
from bilet_portfolio.application.service import PortfolioView
from bilet_portfolio.domain.consent import ConsentFacts, ConsentState
from bilet_portfolio.domain.progress import Progress
from bilet_portfolio.domain.views import (
    BookingRecord,
    CareerEventInfo,
    PortfolioRecord,
    RegionInfo,
    SchoolInfo,
)


def portfolio_model(view: PortfolioView) -> PortfolioModel:
    """The whole portfolio, or — for a caller who may see only the consent (the school while
    it is closed, its registrar) — the consent alone."""
    record = view.record
    if record is None:
        return _consent_only(view)
    participant = view.participant
    return PortfolioModel(
        participant_id=participant.participant_id,
        version=participant.version,
        open=True,
        consent=_consent(participant.consent, view.consent_state),
        display_name=_name(view.name),
        season=participant.season,
        grade=participant.grade,
        school=_school(record.school),
        region=_region(record.region),
        progress=_progress(participant.progress),
        diagnostics=_diagnostics(view, record),
        career_events=_career_events(view, record),
        recommendations=_recommendations(record),
        guardians=_guardians(record),
        history=_history(record),
        updated_at=participant.updated_at,
    )


def portfolio_json(view: PortfolioView) -> bytes:
    """The answer's body: the response model, validated once as it is built, serialised once by
    pydantic-core (the route returns these bytes; FastAPI neither validates nor encodes again)."""
    model = portfolio_model(view)
    return model.__pydantic_serializer__.to_json(model)


def summary_model(summary: Summary) -> ParticipantSummaryModel:
    """One participant in a list: the consent always, the rest when `detailed`."""
    participant = summary.participant
    return ParticipantSummaryModel(
        participant_id=participant.participant_id,
        open=summary.open,
        consent=_consent(participant.consent, summary.consent_state),
        display_name=_name(summary.name) if summary.detailed else None,
        season=participant.season,
        grade=participant.grade,
        progress=_progress(participant.progress) if summary.detailed else None,
        version=participant.version,
        updated_at=participant.updated_at if summary.detailed else None,
    )


def _consent_only(view: PortfolioView) -> PortfolioModel:
    participant = view.participant
    return PortfolioModel(
        participant_id=participant.participant_id,
        version=participant.version,
        open=view.open,
        consent=_consent(participant.consent, view.consent_state),
        display_name=None,
        season=None,
        grade=None,
        school=None,
        region=None,
        progress=None,
        diagnostics=[],
        career_events=[],
        recommendations=[],
        guardians=[],
        history=[],
        updated_at=None,
    )


def _name(name: DisplayName | None) -> DisplayNameModel | None:
    if name is None:
        return None
    return DisplayNameModel(
        last_name=name.last_name,
        first_name=name.first_name,
        patronymic=name.patronymic,
        erased=name.erased,
    )


def _consent(facts: ConsentFacts, state: ConsentState) -> ConsentModel:
    return ConsentModel(
        state=state,
        purposes=list(facts.purposes),
        valid_until=facts.valid_until,
        rejection_reasons=list(facts.rejection_reasons),
        erase_by=facts.erase_by,
        newer_pending=facts.pending,
    )


def _progress(progress: Progress) -> ProgressModel:
    return ProgressModel(
        stages_completed=progress.stages_completed,
        stages_total=progress.stages_total,
        career_events_booked=progress.career_events_booked,
        career_events_attended=progress.career_events_attended,
        max_career_events=progress.max_career_events,
        recommendations=progress.recommendations,
    )


def _school(school: SchoolInfo | None) -> SchoolModel | None:
    if school is None:
        return None
    return SchoolModel(
        school_id=school.school_id, name=school.name, municipality=school.municipality
    )


def _region(region: RegionInfo | None) -> RegionModel | None:
    if region is None:
        return None
    return RegionModel(region_id=region.region_id, region_code=region.region_code, name=region.name)


def _diagnostics(view: PortfolioView, record: PortfolioRecord) -> list[StageModel]:
    """The stages shown, each with its region's testing window when there is one."""
    windows = {(window.season, window.stage): window for window in record.windows}
    stages = []
    for attempt in view.stages:
        window = windows.get((attempt.season, attempt.stage))
        stages.append(
            StageModel(
                season=attempt.season,
                stage=attempt.stage,
                status="completed" if attempt.status == "completed" else "started",
                attempt_id=attempt.attempt_id,
                instruments=[InstrumentModel(**ref) for ref in attempt.instruments],
                result=attempt.result,
                answer_sheet_id=_answer_sheet_id(attempt.answer_sheet),
                started_at=attempt.started_at,
                completed_at=attempt.completed_at,
                window=None
                if window is None
                else WindowModel(opens_on=window.opens_on, closes_on=window.closes_on),
            )
        )
    return stages


def _answer_sheet_id(answer_sheet: Any) -> str | None:
    if isinstance(answer_sheet, dict):
        value = answer_sheet.get("answer_sheet_id")
        return value if isinstance(value, str) else None
    return None


def _career_events(view: PortfolioView, record: PortfolioRecord) -> list[BookingModel]:
    """The bookings, each with its career event and the mentors' feedback given on it (the
    comments as the view opened them for this caller)."""
    feedback_of: dict[str, list[FeedbackModel]] = {}
    for feedback in record.feedback:
        feedback_of.setdefault(feedback.booking_id, []).append(
            FeedbackModel(
                feedback_id=feedback.feedback_id,
                task_completion=feedback.task_completion,
                interest_shown=feedback.interest_shown,
                skills_shown=[SkillShownModel.model_validate(s) for s in feedback.skills_shown],
                suggested_environments=feedback.suggested_environments,
                comment=view.comments.get(feedback.feedback_id),
                given_at=feedback.given_at,
            )
        )
    return [
        _booking(booking, feedback_of.get(booking.booking_id, [])) for booking in record.bookings
    ]


def _booking(booking: BookingRecord, feedback: list[FeedbackModel]) -> BookingModel:
    return BookingModel(
        booking_id=booking.booking_id,
        session=None if booking.session is None else SessionModel(**booking.session),
        status=booking.status,
        waitlist_position=booking.waitlist_position,
        route=booking.route,
        season=booking.season,
        cancellation_reason=booking.cancellation_reason,
        booked_at=booking.booked_at,
        attended_at=booking.attended_at,
        cancelled_at=booking.cancelled_at,
        career_event=_career_event(booking.career_event),
        feedback=feedback,
    )


def _career_event(event: CareerEventInfo | None) -> CareerEventModel | None:
    if event is None:  # the booking arrived before its career event
        return None
    return CareerEventModel(
        career_event_id=event.career_event_id,
        title=event.title,
        profession=event.profession,
        environments=event.environments,
        level=event.level,
        format=event.format,
        venue=None if event.venue is None else VenueModel.model_validate(event.venue),
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        cancelled=event.cancelled,
        cancellation_reason=event.cancellation_reason,
    )


def _recommendations(record: PortfolioRecord) -> list[RecommendationsModel]:
    return [
        RecommendationsModel(
            season=recommendation.season,
            recommendation_set_id=recommendation.recommendation_set_id,
            leading_environments=recommendation.leading_environments,
            study_plan=recommendation.study_plan,
            opportunities=recommendation.opportunities,
            rules=recommendation.rules,
            basis=recommendation.basis,
            supersedes=recommendation.supersedes,
            issued_at=recommendation.issued_at,
            environment_scores=recommendation.environment_scores,
            profile_classes=recommendation.profile_classes,
            routes=recommendation.routes,
        )
        for recommendation in record.recommendations
    ]


def _guardians(record: PortfolioRecord) -> list[GuardianModel]:
    return [
        GuardianModel(
            guardian_id=guardian.guardian_id,
            relationship=guardian.relationship,
            linked_at=guardian.linked_at,
        )
        for guardian in record.guardians
    ]


def _history(record: PortfolioRecord) -> list[HistoryModel]:
    return [
        HistoryModel(
            recorded_at=entry.recorded_at,
            source=entry.source,
            event_type=entry.event_type,
            stream_id=entry.stream_id,
            stream_version=entry.stream_version,
            position=entry.position,
        )
        for entry in record.history
    ]
