"""`GET /diagnostics/v1/schools/{school_id}/progress`: a school's progress through the diagnostics
of a season, per grade and stage, and who has not started (ids only: names are the portfolio's).

The application provides `app.state.facts` (a `Facts`, `ReadModelFacts` in production) and
`app.state.audit_log` (an `AuditLog`): the counts disclose each counted pupil's progress, so every
answer records one audit entry per pupil (ids and the field name only).
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from bilet.application.context import RequestContext
from bilet.audit import Access, AuditLog
from bilet.contracts.vocabulary import Stage
from bilet.http import Principal, Problem, Role, forbidden
from bilet.http.context import Context
from bilet.http.problems import problem_responses
from bilet_diagnostics.application.facts import Facts, SchoolProgress

router = APIRouter(prefix="/v1", tags=["progress"])

# The school's own staff, its region's coordinator and the operator; anyone else is refused
# before anything is looked up.
PROGRESS_READERS = frozenset({Role.NAVIGATOR, Role.REGISTRAR, Role.COORDINATOR, Role.OPERATOR})
AUDIT_PURPOSE = "school_progress"
AUDIT_FIELDS = ("diagnostics_progress",)


# Coroutines: a plain function would be run on a worker thread for every request (ADR 0054).
async def _facts(request: Request) -> Facts:
    facts: Facts = request.app.state.facts
    return facts


async def _audit_log(request: Request) -> AuditLog:
    audit_log: AuditLog = request.app.state.audit_log
    return audit_log


SeasonQuery = Annotated[
    int, Query(ge=2018, le=2100, description="The season (the school year's first calendar year).")
]


class StageProgressModel(BaseModel):
    stage: Stage
    started: int = Field(ge=0, description="Pupils who started the stage (completed or not).")
    completed: int = Field(ge=0, description="Pupils who completed it (a retake counts once).")
    not_started: list[UUID] = Field(
        description="Participant ids of the pupils who have not started it, in id order."
    )


class GradeProgressModel(BaseModel):
    grade: int = Field(ge=1, le=11)
    pupils: int = Field(ge=1, description="Pupils of the grade enrolled in the school this season.")
    stages: list[StageProgressModel] = Field(description="In the season's order of stages.")


class SchoolProgressResponse(BaseModel):
    school_id: UUID
    season: int
    stages: list[Stage] = Field(
        description="The season's stages in order (all three while its rules are not known)."
    )
    grades: list[GradeProgressModel] = Field(
        description="Ascending; only grades with enrolled pupils."
    )


def _unknown_school() -> Problem:
    return Problem(404, "unknown_school", "Unknown school", "No such school is known to you.")


def _in_scope(principal: Principal, progress: SchoolProgress) -> bool:
    if principal.role is Role.OPERATOR:
        return True
    if principal.role is Role.COORDINATOR:
        return principal.region_id is not None and principal.region_id == str(progress.region_id)
    return principal.school_id is not None and principal.school_id == str(progress.school_id)


def _answer(progress: SchoolProgress) -> SchoolProgressResponse:
    return SchoolProgressResponse(
        school_id=progress.school_id,
        season=progress.season,
        stages=list(progress.stages),
        grades=[
            GradeProgressModel(
                grade=grade.grade,
                pupils=grade.pupils,
                stages=[
                    StageProgressModel(
                        stage=stage.stage,
                        started=stage.started,
                        completed=stage.completed,
                        not_started=list(stage.not_started),
                    )
                    for stage in grade.stages
                ],
            )
            for grade in progress.grades
        ],
    )


@router.get(
    "/schools/{school_id}/progress",
    name="school_progress",
    summary="A school's progress through the diagnostics: counts per grade and stage",
    response_model=SchoolProgressResponse,
    responses=problem_responses(403, 404),
)
async def school_progress(
    school_id: UUID,
    season: SeasonQuery,
    ctx: Context,
    facts: Annotated[Facts, Depends(_facts)],
    audit_log: Annotated[AuditLog, Depends(_audit_log)],
) -> SchoolProgressResponse:
    """For each grade of the school's pupils enrolled in `season`: how many pupils there are,
    and for each stage of the season how many started it (completed or not), how many
    completed it (a retake counts once), and the participant ids of those who have not started
    it. Ids only: names come from the portfolio, for those entitled to them. Pupils whose data
    was erased are left out. The counts follow the events as the read model has applied them,
    so a stage started a moment ago may show a little later.

    **Who:** the school's navigator and registrar (their own school, the `school` claim); the
    regional coordinator (schools of their region, the `region` claim); the operator (any
    school). Every role sees the same answer. Each answer is audited: one entry per pupil
    counted.

    **Refusals:** 403 `forbidden` (any other role, before anything is looked up); 404
    `unknown_school` (no such school, or not the caller's school or region: the same answer,
    so a stranger learns nothing); 422 `invalid_request` (a malformed school id, `season`
    missing or out of range).
    """
    principal = ctx.principal
    if principal.role not in PROGRESS_READERS:
        raise forbidden(f"The role {principal.role.value} may not see a school's progress.")
    progress = await facts.progress(school_id, season)
    if not progress.known or not _in_scope(principal, progress):
        raise _unknown_school()
    await _audit(audit_log, ctx, progress)
    return _answer(progress)


async def _audit(audit_log: AuditLog, ctx: RequestContext, progress: SchoolProgress) -> None:
    await audit_log.record(
        *(
            ctx.audit(Access.READ, participant_id, AUDIT_PURPOSE, AUDIT_FIELDS)
            for participant_id in sorted(progress.participant_ids)
        )
    )
