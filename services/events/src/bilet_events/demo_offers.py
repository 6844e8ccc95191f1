"""What the demo of `make run` offers (`bilet_events.demo` loads it): three organisers of the
Luga district — invented: a college, a technopark, an agricultural enterprise — their venues and
mentors, and six career events in several environments, each in two sessions a week apart.

They are published for the week of the start (sessions one and two weeks after its Monday) and
for November 2019 (the history). Every id is derived (uuid5), so the banner of `bvb run` names
the organiser and the mentor before the server starts, and a restart finds what it published.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from uuid import UUID

from bilet.contracts.catalogue.events import (
    CareerEventFormat,
    CareerEventLevel,
    CareerEventPublished,
    CareerEventSession,
    Venue,
    VenueKind,
)
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange

DEMO_NAMESPACE: Final = UUID("8e3b1c5a-4f2d-5a6e-9b7c-1d0e2f3a4b5c")
# Identity's demo (bilet_identity.demo): services do not import each other, so its ids are
# written here; the host's test of the demo checks they still match.
IDENTITY_DEMO_NAMESPACE: Final = UUID("2c6f0d52-7b1e-5a8e-b3c4-9d0e1f2a3b4c")
REGION_ID: Final = UUID("b04673c4-e959-5e7b-b095-3d9da56889fb")
MUNICIPALITY: Final = "Лужский муниципальный район"
SCHOOLS: Final = (
    (UUID("16fae2ab-d1c8-5e70-ba8f-657ddc885c03"), 87),  # МОУ «СОШ № 3»
    (UUID("2b848086-7aca-51be-b130-41e65476f3a5"), 50),  # МБОУ «СОШ № 5»
)
HISTORY_SEASON: Final = 2019


def _id(name: str) -> UUID:
    return uuid.uuid5(DEMO_NAMESPACE, name)


# The printed organiser token's venue and the printed mentor token's subject.
DEMO_COLLEGE: Final = _id("organiser:college")
DEMO_MENTOR: Final = _id("mentor:college")
TECHNOPARK: Final = _id("organiser:technopark")
FARM: Final = _id("organiser:farm")
_MENTORS: Final = {
    DEMO_COLLEGE: DEMO_MENTOR,
    TECHNOPARK: _id("mentor:technopark"),
    FARM: _id("mentor:farm"),
}
_VENUES: Final = {
    DEMO_COLLEGE: Venue(
        kind=VenueKind.COLLEGE,
        name="ГБПОУ ЛО «Лужский колледж технологий и сервиса»",
        address="Ленинградская обл., г. Луга, пр. Кирова, 12",
        municipality=MUNICIPALITY,
    ),
    TECHNOPARK: Venue(
        kind=VenueKind.TECHNOPARK,
        name="Детский технопарк «Лужский кванториум»",
        address="Ленинградская обл., г. Луга, ул. Свободы, 5",
        municipality=MUNICIPALITY,
    ),
    FARM: Venue(
        kind=VenueKind.EMPLOYER,
        name="АО «Агрофирма «Лужская нива»»",
        address="Ленинградская обл., Лужский р-н, пос. Толмачёво, ул. Полевая, 1",
        municipality=MUNICIPALITY,
    ),
}
_STEP_FREE: Final = (AccessibilityNeed.STEP_FREE_ACCESS, AccessibilityNeed.ACCESSIBLE_TOILET)


@dataclass(frozen=True)
class Offer:
    """One of the demo's career events, published for a week (or for 2019)."""

    slug: str
    organiser_id: UUID
    title: str
    description: str
    profession: str
    environments: tuple[Environment, ...]
    accommodates: tuple[AccessibilityNeed, ...] = ()
    level: CareerEventLevel = CareerEventLevel.INTRODUCTORY
    online: bool = False
    grades: tuple[int, int] = (6, 11)
    capacity: int = 15


OFFERS: Final = (
    Offer(
        "electrician",
        DEMO_COLLEGE,
        "Электромонтёр: собираем электрическую цепь",
        "Знакомство с профессией электромонтёра, техника безопасности и практическое задание: "
        "собрать и проверить цепь освещения на учебном стенде.",
        "electrician",
        (Environment.INDUSTRIAL, Environment.SAFE),
        (*_STEP_FREE, AccessibilityNeed.LARGE_PRINT, AccessibilityNeed.QUIET_SPACE),
    ),
    Offer(
        "pastry-cook",
        DEMO_COLLEGE,
        "Повар-кондитер: первый торт",
        "Мастер-класс в учебном кулинарном цехе колледжа: тесто, крем и украшение торта.",
        "pastry_cook",
        (Environment.COMFORTABLE, Environment.CREATIVE),
        (*_STEP_FREE, AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER),
    ),
    Offer(
        "programmer",
        TECHNOPARK,
        "Программист: игра на Python за два часа",
        "Онлайн-занятие с наставником технопарка: пишем небольшую игру и показываем её группе.",
        "software_developer",
        (Environment.SMART,),
        (
            AccessibilityNeed.SCREEN_READER_MATERIALS,
            AccessibilityNeed.EXTRA_TIME,
            AccessibilityNeed.FREQUENT_BREAKS,
            AccessibilityNeed.QUIET_SPACE,
        ),
        online=True,
        capacity=30,
    ),
    Offer(
        "robotics",
        TECHNOPARK,
        "Инженер-робототехник: робот, который объезжает препятствия",
        "Собираем и программируем мобильного робота в квантуме робототехники.",
        "robotics_engineer",
        (Environment.SMART, Environment.INDUSTRIAL),
        (*_STEP_FREE, AccessibilityNeed.HEARING_LOOP),
        level=CareerEventLevel.ADVANCED,
        grades=(7, 11),
        capacity=10,
    ),
    Offer(
        "agronomist",
        FARM,
        "Агроном: от семени до урожая",
        "День в теплицах агрофирмы: анализ почвы, посев и уход за рассадой.",
        "agronomist",
        (Environment.AGRARIAN,),
    ),
    Offer(
        "veterinary",
        FARM,
        "Ветеринарный фельдшер: день на молочной ферме",
        "Осмотр животных вместе с ветеринарным врачом хозяйства, уход за телятами.",
        "veterinary_assistant",
        (Environment.AGRARIAN, Environment.HEALTHY),
        level=CareerEventLevel.ADVANCED,
        grades=(8, 11),
    ),
)
_SESSION_START: Final = time(7, 0, tzinfo=UTC)  # 10:00 in Luga (Moscow time)
_SESSION_LENGTH: Final = timedelta(hours=3)
# The 2019 history: booked at the start of November, the sessions in the weeks after.
HISTORY_OPENS: Final = date(HISTORY_SEASON, 11, 11)
HISTORY_BOOKED_AT: Final = datetime(HISTORY_SEASON, 11, 1, 9, 0, tzinfo=UTC)
# How many demo pupils hold a seat of this week's first college session (the roster shows them).
WEEK_PREBOOKED: Final = 6


def season_of(day: date) -> int:
    """The season a day belongs to, as identity names seasons (by the year the school year
    starts in)."""
    return day.year if day.month >= 9 else day.year - 1


def week_of(today: date) -> date:
    """The Monday of `today`'s week: this week's career events are named by it."""
    return today - timedelta(days=today.weekday())


def career_event_id(offer: Offer, edition: date | int) -> UUID:
    """The id of an offer published for a week (its Monday) or for the 2019 history."""
    return _id(f"career-event:{edition}:{offer.slug}")


def published(
    offer: Offer, edition: date | int, first_day: date, season: int
) -> CareerEventPublished:
    """The offer as its organiser publishes it for `season`: two sessions a week apart from
    `first_day` (shifted by the offer's place in the list, so one pupil can go to several)."""
    ce_id = career_event_id(offer, edition)
    day = first_day + timedelta(days=OFFERS.index(offer) % 5)
    return CareerEventPublished(
        career_event_id=ce_id,
        region_id=REGION_ID,
        season=season,
        organiser_id=offer.organiser_id,
        title=offer.title,
        description=offer.description,
        profession=offer.profession,
        environments=offer.environments,
        level=offer.level,
        format=CareerEventFormat.ONLINE if offer.online else CareerEventFormat.IN_PERSON,
        venue=None if offer.online else _VENUES[offer.organiser_id],
        municipality=MUNICIPALITY,
        sessions=tuple(
            CareerEventSession(
                session_id=uuid.uuid5(ce_id, f"session-{n + 1}"),
                starts_at=datetime.combine(day + timedelta(weeks=n), _SESSION_START),
                ends_at=datetime.combine(day + timedelta(weeks=n), _SESSION_START)
                + _SESSION_LENGTH,
                capacity=offer.capacity,
            )
            for n in range(2)
        ),
        eligible_grades=GradeRange(lowest=offer.grades[0], highest=offer.grades[1]),
        accommodates=offer.accommodates,
        mentors=(_MENTORS[offer.organiser_id],),
    )


def this_week(today: date) -> list[CareerEventPublished]:
    """The six career events of `today`'s week: sessions one and two weeks after its Monday."""
    monday = week_of(today)
    season = season_of(today)  # the season whose rules identity's demo opens today
    return [published(offer, monday, monday + timedelta(weeks=1), season) for offer in OFFERS]


def history() -> list[CareerEventPublished]:
    return [published(offer, HISTORY_SEASON, HISTORY_OPENS, HISTORY_SEASON) for offer in OFFERS]


def demo_pupils() -> list[tuple[UUID, UUID]]:
    """Every demo pupil of identity as (participant id, school id)."""
    return [
        (uuid.uuid5(IDENTITY_DEMO_NAMESPACE, f"participant:{school_id}:{number}"), school_id)
        for school_id, count in SCHOOLS
        for number in range(1, count + 1)
    ]
