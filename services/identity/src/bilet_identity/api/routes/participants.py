"""The participants' routes: registration (by form and class list), a participant's view,
corrections, moves, enrolments, guardians' links."""

from typing import Annotated, Final
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response

from bilet.http.consistency import position_header
from bilet.http.context import Context, ContextWithPositions
from bilet.http.problems import Problem
from bilet_identity.api.models import (
    CorrectParticipantRequest,
    EnrolParticipantRequest,
    ImportResponse,
    LinkGuardianRequest,
    MoveParticipantRequest,
    ParticipantChangedResponse,
    ParticipantModel,
    ParticipantRegisteredResponse,
    RegisterParticipantRequest,
)
from bilet_identity.api.problems import problems
from bilet_identity.api.representations import import_report, participant_model
from bilet_identity.api.routes.common import (
    Service,
    answer_position,
    participant_changed,
)
from bilet_identity.application.errors import AccessDenied
from bilet_identity.application.inputs import (
    CommandContext,
)

router = APIRouter(prefix="/v1")

PositionHeader = Annotated[
    str | None,
    position_header(
        "Read-your-writes: the `BVB-Position` value(s) commands of identity or "
        "consent returned, comma-separated. The read waits (2 s at most) until consent's are "
        "applied.",
        ("identity", "consent"),
    ),
]


# ---------------------------------------------------------------------- participants
def _school_of(context: CommandContext, school_id: UUID | None) -> UUID:
    if school_id is not None:
        return school_id
    claimed = context.principal.school_id
    try:
        return UUID(claimed or "")
    except ValueError:
        raise AccessDenied("Only a school's registrar registers pupils.") from None


@router.post(
    "/participants",
    name="register_participant",
    tags=["participants"],
    status_code=201,
    summary="Register a pupil of the registrar's school (one profile per child, nationwide)",
    responses=problems(403, 409, 422),
)
async def register_participant(
    body: RegisterParticipantRequest, service: Service, context: Context, response: Response
) -> ParticipantRegisteredResponse:
    """Register a pupil: one profile per child, nationwide (the СНИЛС is the key). The body is
    the pupil's details; `school_id` and `season` default to the registrar's school and the
    running season. Answers 201 with `Location`, `version` 0 and `BVB-Position`.

    **Who:** a school's registrar, for their own school only (the token's `school_id`).

    **Refusals:** 403 `forbidden` (another role, or another school);
    409 `duplicate_participant` (the child is registered already) or `duplicate_needs_review`
    (the СНИЛС is registered with another name or birth date: flagged for the operator) or
    `snils_taken` (the operator found this child to be another than the СНИЛС's holder: check
    the number, docs/adr/0043), each naming `existing_participant_id` only to a caller who may
    see that participant;
    422 `invalid_snils`, `invalid_details` (with `field`), `not_eligible` (with `reasons`),
    `unknown_school`, `unknown_season`, `invalid_request`.
    """
    committed = await service.register_participant(
        context,
        _school_of(context, body.school_id),
        body.to_pupil(),
    )
    assert committed.id is not None
    response.headers["Location"] = f"/identity/v1/participants/{committed.id}"
    return ParticipantRegisteredResponse(
        participant_id=committed.id,
        version=committed.version or 0,
        position=answer_position(response, committed.position, f"participant-{committed.id}"),
    )


CSV_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": (
            "The class list, UTF-8 (a BOM is fine), `,` or `;` separated, one pupil per row. "
            "Columns (English or Russian headers): last_name/Фамилия, first_name/Имя, "
            "middle_name/Отчество, birth_date/Дата рождения (YYYY-MM-DD or DD.MM.YYYY), "
            "snils/СНИЛС, grade/Класс (a number, or with the class letter: 7Б, 7 «Б») are "
            "required; class_letter/Буква (one Cyrillic letter), citizenship/Гражданство "
            "(default RU), "
            "residence_region_code/Регион проживания, home_schooled/Семейное обучение (да/нет), "
            "health_limitations/ОВЗ (нет, да or a category), accessibility_needs/Потребности "
            "(codes separated by |) are optional."
        ),
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/participants/import",
    name="import_participants",
    tags=["participants"],
    summary="Register a class list (CSV): each row registered or rejected on its own",
    openapi_extra=CSV_BODY,
    responses=problems(400, 403, 413, 422),
)
async def import_participants(
    request: Request,
    service: Service,
    context: Context,
    response: Response,
    school_id: Annotated[UUID | None, Query(description="Default: the registrar's school.")] = None,
    season: Annotated[
        int | None, Query(ge=2018, le=2100, description="Default: the running season.")
    ] = None,
) -> ImportResponse:
    """Register a class list (the CSV body below; at most 20,000 pupils, 8 MiB). Each row is
    `registered`, `already_registered` (the same child at this school: importing a file twice
    creates nothing) or `rejected` with the `code`, `detail`, `field`, `reasons` a single
    registration would answer; the answer is 200 even when rows are rejected.

    **Who:** a school's registrar, for their own school only (`school_id` defaults to it).

    **Refusals of the whole file:** 400 `invalid_text` (control or invisible characters),
    403 `forbidden`, 413 `payload_too_large`, 422 `invalid_encoding` (not UTF-8),
    `invalid_csv` (empty, malformed, too many rows, a column twice), `missing_columns` (with
    `missing_columns`), `unknown_school`, `unknown_season`, `invalid_request`.
    """
    content = await request.body()
    report = await service.import_participants(
        context, _school_of(context, school_id), content, season
    )
    answer_position(response, report.position)
    return import_report(report)


@router.get(
    "/participants/{participant_id:uuid}",
    name="get_participant",
    tags=["participants"],
    summary="A participant; personal data only for the entitled (every read is audited)",
    responses=problems(400, 403, 404, 409),
)
async def get_participant(
    participant_id: UUID,
    service: Service,
    context: ContextWithPositions,
    response: Response,
    # Declared for the OpenAPI document (its bound, its meaning); `context` parses the tokens.
    positions: PositionHeader = None,
) -> ParticipantModel:
    """A participant: ids, school, region, season, grade and enrolments for every reader; an
    `ETag` with the `version` (send it back as `If-Match` to PATCH). The participant is read
    straight from the store (identity's own tokens need no wait); whether a consent covers
    health data comes from identity's read model of the consent service's stream, so after a
    consent command send its `BVB-Position` back to see its effect.

    **Who sees what:** the registrar of the child's current school, the pupil themself, a
    guardian whose token lists the child in `children` — `personal` with health data
    (`health_limitations`, `accessibility_needs`), but only while a verified, unexpired,
    unwithdrawn consent covers `health_data`; without one they are null and
    `health_withheld` is `no_health_consent` (also for the school that typed them in before
    any consent). The federal operator, a navigator of the school, the coordinator of the
    region — `personal` without health data (`health_withheld`: `not_needed_by_role`); no
    task of theirs needs it. Support, for any participant — no `personal`, no `guardians`.
    Once the personal data is erased, `erased` is true and `personal` null for everyone; once
    only the health data is destroyed, `health_erased` is true. A profile closed as a second
    one of a child answers with `merged_into`, the kept profile's id (docs/adr/0043); a
    command on it is refused with 409 `participant_merged` naming `kept_participant_id`.
    Every read that shows personal data is audited (`participant_view`), and health data
    apart (`participant_health_view`).

    **Refusals:** 400 `invalid_position_token` (malformed, or of a service other than identity
    and consent); 403 `forbidden` (mentor, organiser, analyst); 404 `unknown_participant` (no
    such participant, or one outside the caller's scope: the two are not told apart);
    409 `not_yet_visible` (a consent token not applied within 2 s; `Retry-After`).
    """
    view = await service.participant(context, participant_id)
    response.headers["ETag"] = f'"{view.version}"'
    return participant_model(view)


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 18:
        raise Problem(
            422, "invalid_request", "Invalid If-Match", 'If-Match is a version, e.g. "3".'
        )
    return int(text)


@router.patch(
    "/participants/{participant_id:uuid}",
    name="correct_participant",
    tags=["participants"],
    summary="Correct a participant's details (the registrar of their school)",
    responses=problems(400, 403, 404, 409, 412, 422),
)
async def correct_participant(
    participant_id: UUID,
    body: CorrectParticipantRequest,
    service: Service,
    context: ContextWithPositions,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(
            description="The version read (the ETag of GET): refused with 412 `stale_version` "
            "if it changed since.",
            pattern=r'^(W/)?"?[0-9]{1,18}"?$',
        ),
    ] = None,
    # Declared for the OpenAPI document (its bound, its meaning); `context` parses the tokens.
    positions: PositionHeader = None,
) -> ParticipantChangedResponse:
    """Correct a participant's details: send only what changes (an empty `middle_name` removes
    it) and why (`reason`, default a typing error). A new СНИЛС, name or birth date moves the
    one-profile-per-child reservation with it. Sending details as they are records nothing.
    With `If-Match` (the `ETag` of GET) a change since that version is refused, never merged.
    Answers the new `ETag`, `version` and `BVB-Position`.

    Health data (`health_limitations`, `accessibility_needs`) may be stated before any consent
    (it is sealed and shown to nobody until a consent covers it). Once a withdrawal of
    `health_data` destroyed it, it is recorded again only while a verified consent in force
    covers `health_data` again, under a new health key: what was destroyed stays unreadable.
    Whether a consent covers it comes from identity's read model of the consent service's
    stream: after verifying a new consent, send its `BVB-Position` here.

    **Who:** the registrar of the participant's school only.

    **Refusals:** 400 `invalid_position_token` (malformed, or of a service other than identity
    and consent); 403 `forbidden` (another role), 404 `unknown_participant` (also another
    school's pupil), 409 `version_conflict` (a concurrent change outlasted the retries),
    `duplicate_participant`, `duplicate_needs_review`,
    `snils_taken`, `participant_merged` (the profile was merged into `kept_participant_id`),
    `participant_erased`, `health_data_withdrawn` (health data sent after a withdrawal of
    `health_data` destroyed it, while no consent in force covers it again),
    `not_yet_visible` (a consent token not applied within 2 s; `Retry-After`);
    412 `stale_version` (`If-Match` no longer current: with `expected_version`,
    `current_version`); 422
    `nothing_to_correct`, `invalid_snils`, `invalid_details`, `not_eligible` (a grade the
    season does not admit), `invalid_request` (also a malformed `If-Match`).
    """
    committed = await service.correct_participant(
        context,
        participant_id,
        body.to_correction(),
        _expected_version(if_match),
    )
    if committed.version is not None:
        response.headers["ETag"] = f'"{committed.version}"'
    return participant_changed(participant_id, committed, response)


@router.post(
    "/participants/{participant_id:uuid}/moves",
    name="move_participant",
    tags=["participants"],
    summary="Move a participant to another school (their school, its coordinator, the operator)",
    responses=problems(403, 404, 409, 422),
)
async def move_participant(
    participant_id: UUID,
    body: MoveParticipantRequest,
    service: Service,
    context: Context,
    response: Response,
) -> ParticipantChangedResponse:
    """Move a participant to another school (`to_school_id`, in any region), optionally in
    another `grade` (default: the same). Answers `version` and `BVB-Position`.

    **Who:** the registrar of the participant's current school, the coordinator of its region,
    the federal operator.

    **Refusals:** 403 `forbidden` (another role), 404 `unknown_participant` (also one outside
    the caller's school or region), 422 `unknown_school` (the destination), `same_school`,
    `invalid_request`.
    """
    committed = await service.move_participant(
        context, participant_id, body.to_school_id, body.grade
    )
    return participant_changed(participant_id, committed, response)


@router.post(
    "/participants/{participant_id:uuid}/enrolments",
    name="enrol_participant",
    tags=["participants"],
    summary="Enrol a participant in a later season at their school",
    status_code=201,
    responses=problems(403, 404, 409, 422),
)
async def enrol_participant(
    participant_id: UUID,
    body: EnrolParticipantRequest,
    service: Service,
    context: Context,
    response: Response,
) -> ParticipantChangedResponse:
    """Enrol a participant in a later `season` at their current school, in `grade`; the
    season's eligibility rules are checked again. Answers 201 with `Location` (the
    participant, whose `enrolments` show it), the `participant_id`, `version` and
    `BVB-Position`.

    **Who:** the registrar of the participant's school, the coordinator of its region, the
    federal operator.

    **Refusals:** 403 `forbidden` (another role), 404 `unknown_participant` (also one outside
    the caller's school or region), 409 `already_enrolled`, `season_not_after_current` (the
    participant's state: it is enrolled in that season or a later one already); 422
    `unknown_season`, `not_eligible` (with `reasons`), `invalid_request`.
    """
    committed = await service.enrol_participant(
        context, participant_id, season=body.season, grade=body.grade
    )
    response.headers["Location"] = f"/identity/v1/participants/{participant_id}"
    return participant_changed(participant_id, committed, response)


@router.post(
    "/participants/{participant_id:uuid}/guardians",
    name="link_guardian",
    tags=["participants"],
    summary="Link a guardian's account to a participant (the registrar of their school)",
    responses={
        201: {
            "model": ParticipantChangedResponse,
            "description": "Linked (or its relationship changed): `Location` is the "
            "participant, whose `guardians` show it.",
        },
        **problems(403, 404, 409, 422),
    },
)
async def link_guardian(
    participant_id: UUID,
    body: LinkGuardianRequest,
    service: Service,
    context: Context,
    response: Response,
) -> ParticipantChangedResponse:
    """Link a guardian's account (`guardian_id`, the token's `sub`) to a participant, with the
    relationship; linking it again with another relationship changes it, the same one records
    nothing (200). A link is shown in the participant's `guardians`, never a grant: a guardian
    reads a child by their token's `children` claim alone. A link recorded answers 201 with
    `Location` (the participant). Answers the `participant_id`, the participant's `version`
    (its `ETag`; a link does not change it) and `BVB-Position`.

    **Who:** the registrar of the participant's school only.

    **Refusals:** 403 `forbidden` (another role), 404 `unknown_participant` (also another
    school's pupil), 409 `too_many_guardians` (at most 4 are linked already); 422
    `invalid_request`.
    """
    committed = await service.link_guardian(
        context, participant_id, body.guardian_id, body.relationship
    )
    if committed.appended:
        response.status_code = 201
        response.headers["Location"] = f"/identity/v1/participants/{participant_id}"
    return participant_changed(participant_id, committed, response)
