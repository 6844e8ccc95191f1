"""The answers of identity's participant routes built from what the application returns: a
participant as the caller may see them, and a class-list import's report."""

from bilet_identity.api.models import (
    EnrolmentModel,
    GuardianModel,
    HealthLimitationsModel,
    ImportResponse,
    ImportRowModel,
    ImportSummaryModel,
    ParticipantModel,
    PersonalDataModel,
)
from bilet_identity.api.problems import problem_of
from bilet_identity.application.access import Visibility
from bilet_identity.application.errors import DuplicateRefused
from bilet_identity.application.inputs import ImportReport, ParticipantView, RowOutcome
from bilet_identity.domain.errors import NotEligible


def participant_model(view: ParticipantView) -> ParticipantModel:
    state = view.participant
    personal_model: PersonalDataModel | None = None
    personal = view.personal
    if personal is not None and personal.details is not None:
        details = personal.details
        health = None
        needs = None
        health_shown = view.health_withheld is None
        if health_shown and details.health is not None:
            health = HealthLimitationsModel(
                has_limitations=details.health.has_limitations, kind=details.health.kind
            )
        if health_shown and details.accessibility_needs is not None:
            needs = list(details.accessibility_needs)
        personal_model = PersonalDataModel(
            last_name=details.full_name.last_name,
            first_name=details.full_name.first_name,
            middle_name=details.full_name.patronymic,
            birth_date=details.birth_date,
            snils=details.snils.formatted,
            citizenship=personal.citizenship,
            home_schooled=personal.home_schooled,
            health_limitations=health,
            accessibility_needs=needs,
            health_erased=health_shown and not details.health_known,
            health_withheld=view.health_withheld,
        )
    guardians = None
    if view.visibility is not Visibility.PSEUDONYMOUS:
        guardians = [
            GuardianModel(guardian_id=g.guardian_id, relationship=g.relationship)
            for g in (view.profile.guardians if view.profile else ())
        ]
    return ParticipantModel(
        participant_id=state.participant_id,
        version=view.version,
        position=view.position,
        school_id=state.school_id,
        region_id=state.region_id,
        season=state.season,
        grade=state.grade,
        enrolments=[
            EnrolmentModel(
                season=e.season, school_id=e.school_id, region_id=e.region_id, grade=e.grade
            )
            for e in state.enrolments
        ],
        guardians=guardians,
        erased=personal is not None and personal.erased,
        merged_into=state.merged_into,
        left=state.left,
        personal=personal_model,
    )


def _row(row: RowOutcome) -> ImportRowModel:
    model = ImportRowModel(line=row.line, status=row.status, participant_id=row.participant_id)
    if row.error is not None:
        problem = problem_of(row.error)
        model.code = problem.code
        model.detail = problem.detail
        field = problem.extensions.get("field")
        model.field = field if isinstance(field, str) else None
        if isinstance(row.error, NotEligible):
            model.reasons = list(row.error.reasons)
        if isinstance(row.error, DuplicateRefused) and row.error.existing is not None:
            model.existing_participant_id = row.error.existing
    return model


def import_report(report: ImportReport) -> ImportResponse:
    return ImportResponse(
        summary=ImportSummaryModel(
            rows=len(report.rows),
            registered=report.count("registered"),
            already_registered=report.count("already_registered"),
            rejected=report.count("rejected"),
        ),
        rows=[_row(row) for row in report.rows],
        position=report.position,
    )
