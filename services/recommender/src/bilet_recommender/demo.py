"""The demo's courses and clubs (`make run`): a few opportunities in the Luga district that the
demo coordinator of the Leningrad oblast registers through the service's own use case, in
Russian. They run through the current school year, so the recommendations the embedded feed
issues to identity's demo pupils (those with the three stages completed and a consent covering
`recommendations`) offer them beside the career events.

Loading again registers nothing new: an opportunity registered already is revised to this
school year's dates (a revision that changes nothing records nothing).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final
from uuid import UUID, uuid5

from bilet.contracts.catalogue.recommender import OpportunityKind
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange
from bilet.http.auth import Principal, Role
from bilet_recommender.application.inputs import CommandContext
from bilet_recommender.domain.errors import OpportunityExists
from bilet_recommender.domain.opportunity import Details
from bilet_recommender.runtime import Runtime
from bilet_recommender.settings import RecommenderSettings

# Identity's demo (bilet_identity.demo): services do not import each other, so its ids are
# written here; the recommender's demo test checks they still match.
REGION_ID: Final = UUID("b04673c4-e959-5e7b-b095-3d9da56889fb")  # Ленинградская область
MUNICIPALITY: Final = "Лужский муниципальный район"
DEMO_NAMESPACE: Final = UUID("9b1d3f5e-2a4c-5e6f-8a0b-1c2d3e4f5a6b")


@dataclass(frozen=True)
class DemoOpportunity:
    slug: str
    kind: OpportunityKind
    title: str
    provider: str
    environments: tuple[Environment, ...]
    grades: tuple[int, int]
    accommodates: tuple[AccessibilityNeed, ...]
    seats: int | None

    @property
    def opportunity_id(self) -> UUID:
        return uuid5(DEMO_NAMESPACE, f"opportunity:{self.slug}")


STEP_FREE: Final = (AccessibilityNeed.STEP_FREE_ACCESS, AccessibilityNeed.ACCESSIBLE_TOILET)
OPPORTUNITIES: Final = (
    DemoOpportunity(
        "robotics",
        OpportunityKind.CLUB,
        "Кружок робототехники",
        "Лужский центр детского творчества",
        (Environment.SMART, Environment.INDUSTRIAL),
        (6, 11),
        STEP_FREE,
        20,
    ),
    DemoOpportunity(
        "programming",
        OpportunityKind.COURSE,
        "Курс «Основы программирования на Python»",
        "Кванториум Лужского района",
        (Environment.SMART, Environment.BUSINESS),
        (8, 11),
        STEP_FREE,
        25,
    ),
    DemoOpportunity(
        "young-medic",
        OpportunityKind.CLUB,
        "Кружок «Юный медик»",
        "Лужская межрайонная больница",
        (Environment.HEALTHY, Environment.SOCIAL),
        (7, 11),
        (),
        15,
    ),
    DemoOpportunity(
        "agro",
        OpportunityKind.COURSE,
        "Курс «Современное сельское хозяйство»",
        "Лужский агропромышленный техникум",
        (Environment.AGRARIAN, Environment.INDUSTRIAL),
        (8, 11),
        STEP_FREE,
        None,
    ),
    DemoOpportunity(
        "design",
        OpportunityKind.CLUB,
        "Кружок дизайна и компьютерной графики",
        "Лужский центр детского творчества",
        (Environment.CREATIVE, Environment.COMFORTABLE),
        (6, 11),
        (),
        18,
    ),
    DemoOpportunity(
        "young-rescuer",
        OpportunityKind.CLUB,
        "Кружок «Юный спасатель»",
        "Лужское отделение ВДПО",
        (Environment.SAFE, Environment.SOCIAL),
        (6, 10),
        (),
        20,
    ),
    DemoOpportunity(
        "engineering-shift",
        OpportunityKind.PROGRAMME,
        "Программа профильной смены «Инженерные каникулы»",
        "Кванториум Лужского района",
        (Environment.INDUSTRIAL, Environment.SMART),
        (8, 11),
        STEP_FREE,
        30,
    ),
)


def school_year(today: date) -> tuple[date, date]:
    """The current school year's first and last day (September to May)."""
    first = today.year if today.month >= 9 else today.year - 1
    return date(first, 9, 1), date(first + 1, 5, 31)


def details(opportunity: DemoOpportunity, today: date) -> Details:
    starts_on, ends_on = school_year(today)
    return Details(
        kind=opportunity.kind,
        title=opportunity.title,
        provider=opportunity.provider,
        municipality=MUNICIPALITY,
        environments=opportunity.environments,
        eligible_grades=GradeRange(lowest=opportunity.grades[0], highest=opportunity.grades[1]),
        accommodates=opportunity.accommodates,
        seats=opportunity.seats,
        starts_on=starts_on,
        ends_on=ends_on,
    )


async def load_demo_data(
    runtime: Runtime, settings: RecommenderSettings, today: date | None = None
) -> int:
    """Register the demo's opportunities (or move them to this school year); how many were
    new."""
    del settings
    today = today or datetime.now(UTC).date()
    coordinator = Principal(
        subject="demo-coordinator", role=Role.COORDINATOR, region_id=str(REGION_ID)
    )
    ctx = CommandContext(coordinator, "demo-data")
    added = 0
    for opportunity in OPPORTUNITIES:
        stated = details(opportunity, today)
        try:
            await runtime.service.register_opportunity(
                ctx, opportunity.opportunity_id, REGION_ID, stated
            )
            added += 1
        except OpportunityExists:
            await runtime.service.revise_opportunity(ctx, opportunity.opportunity_id, stated)
    return added
