"""The demo data of `make run`: the first real scenario of the programme (Leningrad oblast, 2019).

The season 2019 rules, the region with its coordinator and its testing window (11–31 October
2019), and in the Luga district МОУ «СОШ № 3» with 87 and МБОУ «СОШ № 5» with 50 pupils of grades
6–8. The pupils are generated from a fixed seed: common Russian names put together at random, birth
dates that fit their grade, valid СНИЛС numbers drawn at random, a few with health limitations and
the accessibility needs that follow from them. They are nobody.

Every id is derived (uuid5), so the demo is the same on every machine, the banner of `bvb run` can
print tokens for it before the server starts, and loading it again adds nothing.
"""

import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from uuid import UUID

from bilet.contracts.vocabulary import AccessibilityNeed, Stage
from bilet.http.auth import Principal, Role
from bilet_identity.application.inputs import CommandContext, PupilInput
from bilet_identity.application.service import IdentityService
from bilet_identity.domain.errors import (
    AlreadyEnrolled,
    DomainError,
    DuplicateSchool,
    ParticipantExists,
    RegionAlreadyAdmitted,
)
from bilet_identity.domain.people import HealthLimitationKind
from bilet_identity.domain.region import region_id_for
from bilet_identity.domain.school import school_id_for
from bilet_identity.domain.season import PublishSeasonRules
from bilet_identity.domain.snils import generate

_log = logging.getLogger(__name__)

DEMO_NAMESPACE: Final = UUID("2c6f0d52-7b1e-5a8e-b3c4-9d0e1f2a3b4c")
SEASON: Final = 2019
REGION_CODE: Final = "47"
REGION_NAME: Final = "Ленинградская область"
COORDINATOR: Final = (
    "ГБУ ДО «Ленинградский областной центр развития творчества одаренных детей и юношества "
    "«Интеллект»»"
)
TIME_ZONE: Final = "Europe/Moscow"
MUNICIPALITY: Final = "Лужский муниципальный район"
REGION_ID: Final = region_id_for(REGION_CODE)


@dataclass(frozen=True)
class DemoSchool:
    name: str
    pupils: int

    @property
    def school_id(self) -> UUID:
        return school_id_for(REGION_ID, MUNICIPALITY, self.name)


SCHOOLS: Final = (DemoSchool("МОУ «СОШ № 3»", 87), DemoSchool("МБОУ «СОШ № 5»", 50))


def participant_id(school: DemoSchool, number: int) -> UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"participant:{school.school_id}:{number}")


FIRST_PUPIL: Final = participant_id(SCHOOLS[0], 1)

_MALE: Final = (
    "Александр", "Максим", "Иван", "Артём", "Дмитрий", "Никита", "Михаил", "Даниил", "Егор",
    "Андрей", "Кирилл", "Илья", "Матвей", "Тимофей", "Роман", "Владимир", "Ярослав", "Фёдор",
    "Георгий", "Константин", "Лев", "Глеб", "Степан", "Павел", "Сергей",
)  # fmt: skip
_FEMALE: Final = (
    "Анастасия", "Мария", "Анна", "Виктория", "Екатерина", "Дарья", "Полина", "Софья",
    "Елизавета", "Александра", "Ксения", "Варвара", "Алиса", "Вероника", "Арина", "Ульяна",
    "Милана", "Василиса", "Кира", "Таисия", "Ева", "Алёна", "Валерия", "Марина",
)  # fmt: skip
_MASCULINE_SURNAMES: Final = (
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв",
)  # fmt: skip
# (masculine, feminine)
_SURNAMES: Final = (
    *((s, s + "а") for s in _MASCULINE_SURNAMES),
    ("Белый", "Белая"),
    ("Громов", "Громова"),
    ("Жуков", "Жукова"),
)
_FATHERS: Final = (
    ("Александрович", "Александровна"),
    ("Сергеевич", "Сергеевна"),
    ("Андреевич", "Андреевна"),
    ("Дмитриевич", "Дмитриевна"),
    ("Владимирович", "Владимировна"),
    ("Иванович", "Ивановна"),
    ("Михайлович", "Михайловна"),
    ("Алексеевич", "Алексеевна"),
    ("Николаевич", "Николаевна"),
    ("Евгеньевич", "Евгеньевна"),
    ("Игоревич", "Игоревна"),
    ("Олегович", "Олеговна"),
)
_LIMITATIONS: Final = (
    (HealthLimitationKind.VISION, (AccessibilityNeed.LARGE_PRINT,)),
    (
        HealthLimitationKind.MUSCULOSKELETAL,
        (AccessibilityNeed.STEP_FREE_ACCESS, AccessibilityNeed.ACCESSIBLE_TOILET),
    ),
    (
        HealthLimitationKind.HEARING,
        (AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER, AccessibilityNeed.HEARING_LOOP),
    ),
    (HealthLimitationKind.AUTISM_SPECTRUM, (AccessibilityNeed.QUIET_SPACE,)),
)


def pupils(school: DemoSchool) -> list[tuple[UUID, PupilInput]]:
    """The school's generated pupils, the same on every call."""
    rng = random.Random(f"bilet-demo-{SEASON}-{school.name}")  # noqa: S311 - demo data
    out = []
    for number in range(1, school.pupils + 1):
        female = rng.random() < 0.5
        grade = rng.choice((6, 7, 8))
        # Grade 6 in the school year 2019/20: born from September 2007 to August 2008.
        born_from = date(SEASON - grade - 6, 9, 1)
        birth_date = born_from + timedelta(days=rng.randrange(366))
        limitation: tuple[HealthLimitationKind, tuple[AccessibilityNeed, ...]] | None = None
        if number % 29 == 7:  # a few: 3 at СОШ № 3, 2 at СОШ № 5
            limitation = _LIMITATIONS[(number // 29) % len(_LIMITATIONS)]
        surname = rng.choice(_SURNAMES)[1 if female else 0]
        pupil = PupilInput(
            last_name=surname,
            first_name=rng.choice(_FEMALE if female else _MALE),
            middle_name=rng.choice(_FATHERS)[1 if female else 0],
            birth_date=birth_date,
            snils=generate(rng).formatted,
            grade=grade,
            home_schooled=number == 13,
            has_health_limitations=limitation is not None,
            health_limitation_kind=limitation[0] if limitation else None,
            accessibility_needs=limitation[1] if limitation else (),
            season=SEASON,
        )
        out.append((participant_id(school, number), pupil))
    return out


def _principal(
    role: Role, *, school_id: str | None = None, region_id: str | None = None
) -> Principal:
    return Principal(
        subject=f"demo-{role.value}", role=role, school_id=school_id, region_id=region_id
    )


async def load_demo_data(service: IdentityService, today: date | None = None) -> int:
    """Load the scenario unless it is there already, then open testing today (see
    `open_testing_today`); returns how many pupils were added."""
    added = await _load_2019(service)
    await open_testing_today(service, today or datetime.now(UTC).date())
    return added


def season_of(today: date) -> int:
    """The season a day belongs to: seasons are named by the year their school year starts."""
    return today.year if today.month >= 9 else today.year - 1


async def open_testing_today(service: IdentityService, today: date) -> None:
    """Beside the 2019 history, a newcomer can take the online diagnostics today: the rules of
    today's season (its school year, through the summer), the region admitted to it, a testing
    window around today, and the printed demo pupil enrolled in it (in the grade they would be
    in, at most 11). Run at every start: a later start moves the window to its own today."""
    season = season_of(today)
    if season == SEASON:
        return  # the 2019 window is the one to use
    operator = CommandContext(_principal(Role.OPERATOR), "demo-data")
    coordinator = CommandContext(
        _principal(Role.COORDINATOR, region_id=str(REGION_ID)), "demo-data"
    )
    stages = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
    starts_on, ends_on = date(season, 9, 1), date(season + 1, 8, 31)
    if await service.store.stream_version(f"season-{season}") is None:
        await service.publish_season_rules(
            operator,
            PublishSeasonRules(
                season=season,
                lowest_grade=6,
                highest_grade=11,
                max_career_events=3,
                diagnostics_stages=stages,
                starts_on=starts_on,
                ends_on=ends_on,
            ),
        )
    with contextlib.suppress(RegionAlreadyAdmitted):
        await service.admit_region(
            operator,
            region_code=REGION_CODE,
            name=REGION_NAME,
            season=season,
            time_zone=TIME_ZONE,
            coordinator=COORDINATOR,
        )
    await service.schedule_diagnostics_window(
        coordinator,
        REGION_ID,
        season=season,
        stages=stages,
        opens_on=max(starts_on, today - timedelta(days=7)),
        closes_on=min(ends_on, today + timedelta(days=21)),
    )
    _, first = pupils(SCHOOLS[0])[0]
    registrar = CommandContext(
        _principal(Role.REGISTRAR, school_id=str(SCHOOLS[0].school_id)), "demo-data"
    )
    with contextlib.suppress(AlreadyEnrolled):
        await service.enrol_participant(
            registrar,
            FIRST_PUPIL,
            season=season,
            grade=min(11, first.grade + season - SEASON),
        )


async def _load_2019(service: IdentityService) -> int:
    last = participant_id(SCHOOLS[-1], SCHOOLS[-1].pupils)
    if await service.store.stream_version(f"participant-{last}") is not None:
        return 0
    operator = CommandContext(_principal(Role.OPERATOR), "demo-data")
    coordinator = CommandContext(
        _principal(Role.COORDINATOR, region_id=str(REGION_ID)), "demo-data"
    )
    stages = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
    await service.publish_season_rules(
        operator,
        PublishSeasonRules(
            season=SEASON,
            lowest_grade=6,
            highest_grade=11,
            max_career_events=3,
            diagnostics_stages=stages,
            starts_on=date(SEASON, 9, 1),
            ends_on=date(SEASON + 1, 5, 31),
        ),
    )
    with contextlib.suppress(RegionAlreadyAdmitted):
        await service.admit_region(
            operator,
            region_code=REGION_CODE,
            name=REGION_NAME,
            season=SEASON,
            time_zone=TIME_ZONE,
            coordinator=COORDINATOR,
        )
    await service.schedule_diagnostics_window(
        coordinator,
        REGION_ID,
        season=SEASON,
        stages=stages,
        opens_on=date(SEASON, 10, 11),
        closes_on=date(SEASON, 10, 31),
    )
    added = 0
    for school in SCHOOLS:
        with contextlib.suppress(DuplicateSchool):
            await service.register_school(
                coordinator, REGION_ID, name=school.name, municipality=MUNICIPALITY
            )
        registrar = CommandContext(
            _principal(Role.REGISTRAR, school_id=str(school.school_id)), "demo-data"
        )
        for pid, pupil in pupils(school):
            try:
                await service.register_participant(registrar, school.school_id, pupil, pid)
            except ParticipantExists:
                continue
            except DomainError:
                _log.exception("demo pupil %s was refused", pid)
                continue
            added += 1
    _log.info("loaded the Leningrad oblast 2019 demo: %d pupils", added)
    return added
