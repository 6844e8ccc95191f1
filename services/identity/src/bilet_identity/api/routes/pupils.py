"""A school's pupils: the list its registrar and navigators work from (docs/adr/0041)."""

from typing import Annotated, Final
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from bilet.http.context import Context
from bilet_identity.api.problems import problems
from bilet_identity.api.routes.common import Service
from bilet_identity.application.consent_state import ConsentState
from bilet_identity.application.school_pupils import PupilPage, PupilQuery

router = APIRouter(prefix="/v1")

CURSOR_PATTERN: Final = r"^[0-9]{1,2}-[0-9]{1,19}$"


class SchoolPupilModel(BaseModel):
    participant_id: UUID
    grade: int
    class_letter: str | None = Field(
        description="The letter of the pupil's class (7«Б»: Б); null when none is recorded."
    )
    season: int = Field(description="The season the pupil takes part in now.")
    last_name: str | None = Field(description="Null once the pupil's data was erased.")
    first_name: str | None
    middle_name: str | None
    consent_state: ConsentState = Field(
        description="Where the pupil's consent stands today, as identity knows it from the "
        "consent service's stream: `missing` (none submitted), `pending` (waiting for a "
        "verifier), `verified` (in force), `expired`, `rejected` (a new one is needed), "
        "`withdrawn`, `erased`."
    )
    erased: bool = Field(description="The pupil's personal data was destroyed.")


class SchoolPupilsPage(BaseModel):
    pupils: list[SchoolPupilModel]
    total: int = Field(description="How many pupils match the query (all pages).")
    next_cursor: str | None = Field(
        description="Send as `cursor` for the next page; null on the last page."
    )


def _cursor(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    grade, _, position = text.partition("-")
    return int(grade), int(position)


def _page(page: PupilPage) -> SchoolPupilsPage:
    pupils = [
        SchoolPupilModel(
            participant_id=row.participant_id,
            grade=row.grade,
            class_letter=row.class_letter,
            season=row.season,
            last_name=None if row.full_name is None else row.full_name.last_name,
            first_name=None if row.full_name is None else row.full_name.first_name,
            middle_name=None if row.full_name is None else row.full_name.patronymic,
            consent_state=row.consent_state,
            erased=row.full_name is None,
        )
        for row in page.pupils
    ]
    after = page.next_after
    return SchoolPupilsPage(
        pupils=pupils,
        total=page.total,
        next_cursor=None if after is None else f"{after[0]}-{after[1]}",
    )


@router.get(
    "/schools/{school_id:uuid}/pupils",
    name="list_school_pupils",
    tags=["participants"],
    summary="A school's pupils: by grade, searchable by surname, with their consent's state",
    responses=problems(403, 404),
)
async def list_school_pupils(
    school_id: UUID,
    service: Service,
    context: Context,
    surname: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="The first letters of the surname (case, «ё» and spacing do not "
            "matter); letters a surname never has simply find nobody.",
        ),
    ] = None,
    grade: Annotated[int | None, Query(ge=1, le=11)] = None,
    consent: Annotated[
        list[ConsentState] | None,
        Query(description="Only pupils whose consent is in one of these states (repeatable)."),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="The `next_cursor` of the previous page."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SchoolPupilsPage:
    """The school's pupils now (those who moved away are on their new school's list, those who
    left the school or the programme on none, a profile merged into another neither), by grade
    and then in the order they were registered, `limit` to a page; `total` counts every pupil
    that matches. Filters: `surname` (its first letters), `grade`, `consent` (e.g.
    `consent=missing&consent=pending`: the pupils the school must chase). Each pupil with
    their name, grade, class letter (when recorded), season and `consent_state`. The school
    sees every one of its pupils by name whatever their consent says: it holds their names
    already. Always current for
    identity's own commands; consent's state as identity's read model of the consent service's
    stream has it. Every pupil shown by name is audited (`school_pupils_view`).

    **Who:** the registrar and the navigators of the school (the token's `school_id`), each
    for their own school only; they see the same list.

    **Refusals:** 403 `forbidden` (another role, or another school's staff),
    404 `school_not_found`, 422 `invalid_request` (a malformed `cursor`, a `surname` with
    more than 100 characters, a `grade` outside 1–11, `limit` outside 1–200).
    """
    page = await service.school_pupils(
        context,
        school_id,
        PupilQuery(
            surname_prefix=surname,
            grade=grade,
            consent=None if not consent else frozenset(consent),
            after=_cursor(cursor),
            limit=limit,
        ),
    )
    return _page(page)
