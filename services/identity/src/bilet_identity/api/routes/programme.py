"""The programme's routes: seasons, regions and their diagnostics windows, schools."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from bilet.http import CurrentPrincipal
from bilet.http.context import Context
from bilet_identity.api.models import (
    AdmitRegionRequest,
    DiagnosticsWindowModel,
    DiagnosticsWindowScheduledResponse,
    GradeRangeModel,
    PublishSeasonRulesRequest,
    RegionAdmittedResponse,
    RegionModel,
    RegisterSchoolRequest,
    ScheduleWindowRequest,
    SchoolModel,
    SchoolRegisteredResponse,
    SeasonRulesModel,
    SeasonRulesPublishedResponse,
)
from bilet_identity.api.problems import problems
from bilet_identity.api.routes.common import (
    SeasonPath,
    Service,
    answer_position,
)
from bilet_identity.domain.region import Region
from bilet_identity.domain.school import School
from bilet_identity.domain.season import PublishSeasonRules, SeasonRules

router = APIRouter(prefix="/v1")


# ---------------------------------------------------------------------- seasons
def _rules(rules: SeasonRules) -> SeasonRulesModel:
    return SeasonRulesModel(
        season=rules.season,
        rules_version=rules.rules_version,
        eligible_grades=GradeRangeModel(lowest=rules.lowest_grade, highest=rules.highest_grade),
        max_career_events=rules.max_career_events,
        diagnostics_stages=list(rules.diagnostics_stages),
        starts_on=rules.starts_on,
        ends_on=rules.ends_on,
        applies_from=rules.applies_from or rules.starts_on,
    )


@router.get(
    "/seasons",
    name="list_seasons",
    tags=["programme"],
    summary="The seasons and the rules in force in each",
    responses=problems(),
)
async def list_seasons(service: Service, _: CurrentPrincipal) -> list[SeasonRulesModel]:
    """Every season with its rules in force (the latest revision), oldest first; the whole
    list, no paging.

    **Who:** any authenticated caller, every role alike (the rules are public configuration).
    Always current: the list catches up with the store before it answers, so no `BVB-Position`
    is needed to see an operator's publication.

    **Refusals:** only those every route shares (401 `unauthorized`, …).
    """
    return [_rules(rules) for rules in await service.all_season_rules()]


@router.get(
    "/seasons/{season}/rules",
    name="get_season_rules",
    tags=["programme"],
    summary="The rules in force for a season",
    responses=problems(404, 422),
)
async def get_season_rules(
    season: SeasonPath, service: Service, _: CurrentPrincipal
) -> SeasonRulesModel:
    """The rules in force for one season (its latest revision, `rules_version`).

    **Who:** any authenticated caller, every role alike. Always current (no `BVB-Position`
    needed).

    **Refusals:** 404 `season_not_found` (no rules published for it), 422 `invalid_request`
    (a season outside 2018–2100).
    """
    return _rules(await service.season_rules(season))


@router.put(
    "/seasons/{season}/rules",
    name="publish_season_rules",
    tags=["programme"],
    summary="Publish (or revise) a season's rules (federal operator)",
    responses=problems(403, 409, 422),
)
async def publish_season_rules(
    season: SeasonPath,
    body: PublishSeasonRulesRequest,
    service: Service,
    context: Context,
    response: Response,
) -> SeasonRulesPublishedResponse:
    """Publish a season's rules, or revise them: each change is a new `rules_version`;
    publishing the rules already in force records nothing and answers the same version. The
    body is the whole rule set: the eligible grades (1–11), how many career events a
    participant attends (1–10), the diagnostics stages run, the season's first and last day
    (it starts in the year it is named after and lies inside one school year, 1 September to
    31 August). Once the season has started, a revision applies from the day it is published
    (its `applies_from`, in GET and on `SeasonRulesPublished`; past results keep the
    `rules_version` they were scored under): it keeps the start and
    cannot end the season before that day; once the season has ended its rules are history.
    Answers the season, its `rules_version` and `BVB-Position` (read-your-writes token); 200
    whether it is the first publication or a revision (a publish-or-revise upsert).

    **Who:** the federal operator only.

    **Refusals:** 403 `forbidden` (any other role), 409 `season_started` (a revision that
    moves the start of a season that has begun), `season_closed` (the season has ended),
    422 `invalid_season_rules` (grades out of order, the end before the start, a start in
    another year, across two school years, a running season ended before today, a region's
    testing window left outside the season, a stage listed twice), 422 `invalid_request` (the
    body's schema).
    """
    committed = await service.publish_season_rules(
        context,
        PublishSeasonRules(
            season=season,
            lowest_grade=body.eligible_grades.lowest,
            highest_grade=body.eligible_grades.highest,
            max_career_events=body.max_career_events,
            diagnostics_stages=tuple(body.diagnostics_stages),
            starts_on=body.starts_on,
            ends_on=body.ends_on,
        ),
    )
    rules = await service.season_rules(season)
    return SeasonRulesPublishedResponse(
        season=season,
        rules_version=rules.rules_version,
        position=answer_position(response, committed.position),
    )


# ---------------------------------------------------------------------- regions and schools
def _region(region: Region) -> RegionModel:
    return RegionModel(
        region_id=region.region_id,
        region_code=region.region_code,
        name=region.name,
        time_zone=region.time_zone,
        coordinator=region.coordinator,
        seasons=sorted(region.seasons),
        diagnostics_windows=[
            DiagnosticsWindowModel(
                season=w.season, stages=list(w.stages), opens_on=w.opens_on, closes_on=w.closes_on
            )
            for w in region.windows
        ],
    )


@router.get(
    "/regions",
    name="list_regions",
    tags=["regions"],
    summary="Regions admitted to the programme",
    responses=problems(),
)
async def list_regions(
    service: Service,
    _: CurrentPrincipal,
    season: Annotated[int | None, Query(ge=2018, le=2100)] = None,
) -> list[RegionModel]:
    """The regions admitted to the programme (with `season`: to that season only), by region
    code, each with its coordinator, seasons and diagnostics (testing) windows; the whole list,
    no paging.

    **Who:** any authenticated caller, every role alike (public configuration). Always current
    (no `BVB-Position` needed).

    **Refusals:** only those every route shares (422 `invalid_request` for a season outside
    2018–2100).
    """
    return [_region(region) for region in await service.regions(season)]


@router.post(
    "/regions",
    name="admit_region",
    tags=["regions"],
    status_code=201,
    summary="Admit a region to a season, with its coordinator (federal operator)",
    responses=problems(403, 409, 422),
)
async def admit_region(
    body: AdmitRegionRequest, service: Service, context: Context, response: Response
) -> RegionAdmittedResponse:
    """Admit a region (by the code of one of the 89 subjects of the Russian Federation) to a
    season, with its IANA time zone (one of Russia's) and naming its coordinator. The region's
    id follows from its code, so admitting it to a later season answers the same `region_id`.
    Answers 201 with `Location` (the region), its `region_id`, `version` and `BVB-Position`
    (read-your-writes token).

    **Who:** the federal operator only.

    **Refusals:** 403 `forbidden` (any other role), 409 `region_already_admitted` (to this
    season), 422 `unknown_season` (no rules published for it), 422 `invalid_request` (also a
    code that is no subject's, a time zone that is not one of Russia's).
    """
    committed = await service.admit_region(
        context,
        region_code=body.region_code,
        name=body.name,
        season=body.season,
        time_zone=body.time_zone,
        coordinator=body.coordinator,
    )
    assert committed.id is not None
    assert committed.version is not None
    response.headers["Location"] = f"/identity/v1/regions/{committed.id}"
    return RegionAdmittedResponse(
        region_id=committed.id,
        version=committed.version,
        position=answer_position(response, committed.position, f"region-{committed.id}"),
    )


@router.get(
    "/regions/{region_id:uuid}",
    name="get_region",
    tags=["regions"],
    summary="An admitted region",
    responses=problems(404),
)
async def get_region(region_id: UUID, service: Service, _: CurrentPrincipal) -> RegionModel:
    """One admitted region, as in the list: its code, name, time zone, coordinator, seasons
    and diagnostics (testing) windows.

    **Who:** any authenticated caller, every role alike (public configuration). Always current
    (no `BVB-Position` needed).

    **Refusals:** 404 `unknown_region` (no such region admitted).
    """
    return _region(await service.region(region_id))


@router.post(
    "/regions/{region_id:uuid}/diagnostics-windows",
    name="schedule_diagnostics_window",
    tags=["regions"],
    summary="Set a region's testing window (federal operator, the region's coordinator)",
    responses={
        201: {
            "model": DiagnosticsWindowScheduledResponse,
            "description": "A window set (or changed): `Location` is the region, which shows it.",
        },
        **problems(403, 404, 422),
    },
)
async def schedule_diagnostics_window(
    region_id: UUID,
    body: ScheduleWindowRequest,
    service: Service,
    context: Context,
    response: Response,
) -> DiagnosticsWindowScheduledResponse:
    """Set a region's diagnostics (testing) window for a season: the stages it covers and the
    days it opens and closes, inside the season and among the season's stages. Setting a
    window already set records nothing and answers 200; a window set answers 201 with
    `Location` (the region, whose `diagnostics_windows` show it). Answers the `region_id`, its
    `version` and `BVB-Position` (read-your-writes token).

    **Who:** the federal operator, or the coordinator of this region.

    **Refusals:** 403 `forbidden` (another role, or the coordinator of another region),
    422 `region_not_admitted` (not to this season, or no such region), 422 `unknown_season`,
    422 `invalid_diagnostics_window` (closes before it opens, outside the season, a stage
    twice or not run this season), 422 `invalid_request`.
    """
    committed = await service.schedule_diagnostics_window(
        context,
        region_id,
        season=body.season,
        stages=tuple(body.stages),
        opens_on=body.opens_on,
        closes_on=body.closes_on,
    )
    assert committed.version is not None
    if committed.appended:
        response.status_code = 201
        response.headers["Location"] = f"/identity/v1/regions/{region_id}"
    return DiagnosticsWindowScheduledResponse(
        region_id=region_id,
        version=committed.version,
        position=answer_position(response, committed.position),
    )


def _school(school: School) -> SchoolModel:
    return SchoolModel(
        school_id=school.school_id,
        region_id=school.region_id,
        name=school.name,
        municipality=school.municipality,
    )


@router.get(
    "/regions/{region_id:uuid}/schools",
    name="list_schools",
    tags=["regions"],
    summary="Schools of a region",
    responses=problems(404),
)
async def list_schools(region_id: UUID, service: Service, _: CurrentPrincipal) -> list[SchoolModel]:
    """The schools registered in a region, by municipality and name; the whole list, no paging.

    **Who:** any authenticated caller, every role alike (public configuration). Always current
    (no `BVB-Position` needed).

    **Refusals:** 404 `unknown_region` (no such region admitted).
    """
    return [_school(school) for school in await service.schools_of(region_id)]


@router.post(
    "/regions/{region_id:uuid}/schools",
    name="register_school",
    tags=["regions"],
    status_code=201,
    summary="Register a school of the region (the region's coordinator)",
    responses=problems(403, 404, 409, 422),
)
async def register_school(
    region_id: UUID,
    body: RegisterSchoolRequest,
    service: Service,
    context: Context,
    response: Response,
) -> SchoolRegisteredResponse:
    """Register a school of the region: its name and municipality. The school's id follows from
    the region, municipality and name (spaces and case folded), so one school is registered
    once. Answers 201 with `Location` (the school), its `school_id`, `version` and
    `BVB-Position` (read-your-writes token).

    **Who:** the region's coordinator only (the `region_id` claim must be this region); not the
    federal operator.

    **Refusals:** 403 `forbidden` (another role, or the coordinator of another region),
    404 `unknown_region`, 409 `duplicate_school` (with `existing_school_id`),
    422 `region_not_admitted` (to no season yet), 422 `invalid_request`.
    """
    committed = await service.register_school(
        context, region_id, name=body.name, municipality=body.municipality
    )
    assert committed.id is not None
    assert committed.version is not None
    response.headers["Location"] = f"/identity/v1/schools/{committed.id}"
    return SchoolRegisteredResponse(
        school_id=committed.id,
        version=committed.version,
        position=answer_position(response, committed.position, f"school-{committed.id}"),
    )


@router.get(
    "/schools/{school_id:uuid}",
    name="get_school",
    tags=["regions"],
    summary="A registered school",
    responses=problems(404),
)
async def get_school(school_id: UUID, service: Service, _: CurrentPrincipal) -> SchoolModel:
    """One registered school: its region, name and municipality.

    **Who:** any authenticated caller, every role alike (public configuration). Always current
    (no `BVB-Position` needed).

    **Refusals:** 404 `school_not_found` (no such school registered).
    """
    return _school(await service.school(school_id))
