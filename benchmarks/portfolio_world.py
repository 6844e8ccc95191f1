"""A school of pupils with whole portfolios, for the portfolio benchmarks: catalogue events as the
producing services publish them, personal fields sealed with the suite's key store.

Each pupil: registered by the school (sealed ФИО), a consent submitted and verified (every
purpose, valid for a year from today), a guardian linked, the three diagnostics stages started and
completed with their results, three career events booked and attended, each with a mentor's
feedback (a sealed comment), and recommendations: 20 events. Dates are in the current season, so
the consent gate opens the portfolio on the day the benchmark runs.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from bilet.contracts import CATALOGUE, EventMetadata, encode, seal, sealed_scopes
from bilet.contracts.base import DomainEvent
from bilet.contracts.catalogue import consent, diagnostics, events, identity, recommender
from bilet.contracts.vocabulary import (
    Environment,
    GradeRange,
    Instrument,
    InstrumentRef,
    Level,
    MappingRef,
    MappingRowRef,
    Stage,
)
from bilet.crypto import FieldCipher
from bilet.eventstore import ANY, EventStore
from bilet.projections import EmbeddedFeed
from bilet.stores import open_key_store, open_source_stores
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.stores import open_read_model
from bilet_portfolio.settings import SOURCES, PortfolioSettings

NAMESPACE = UUID("0b5e7a52-41c3-4d8e-9a6f-5e2d1c0b9a87")
STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
MUNICIPALITY = "Лужский муниципальный район"
DIGEST = "ab" * 32
INSTRUMENTS = {
    Stage.INTERESTS: Instrument.KLIMOV_DDO,
    Stage.SOFT_SKILLS: Instrument.SOFT_SKILLS_BANK,
    Stage.PROFESSIONS_KNOWLEDGE: Instrument.PROFESSIONS_KNOWLEDGE_BANK,
}
NAMES = (
    ("Соколова", "Дарья", "Андреевна"),
    ("Иванов", "Максим", "Сергеевич"),
    ("Кузнецова", "Анна", "Дмитриевна"),
    ("Петров", "Илья", "Алексеевич"),
)


def uid(name: str) -> UUID:
    return uuid5(NAMESPACE, name)


def newest(event_type: str, **data: Any) -> DomainEvent:
    """The newest published version of a type, built from its JSON form."""
    import json

    return CATALOGUE.latest(event_type).model_validate_json(json.dumps(data))


def _instrument(stage: Stage) -> InstrumentRef:
    return InstrumentRef(instrument=INSTRUMENTS[stage], version="1.0.0")


def current_season(today: date) -> int:
    """The school year the day falls in (September to August), named by its first year."""
    return today.year if today.month >= 9 else today.year - 1


@dataclass
class World:
    """Builds the events; ids are derived, so a pupil's id is known before its events exist."""

    cipher: FieldCipher
    today: date

    def __post_init__(self) -> None:
        self.season = current_season(self.today)
        self.region_id = uid("region:47")
        self.school_id = uid("school:3")
        self.starts_on = date(self.season, 9, 1)

    @staticmethod
    def pupil(number: int) -> UUID:
        return uid(f"participant:{number}")

    def career_event_id(self, number: int) -> UUID:
        return uid(f"career-event:{number}")

    # ------------------------------------------------------------------ the programme
    def programme(self) -> list[DomainEvent]:
        season, region = self.season, self.region_id
        out: list[DomainEvent] = [
            identity.SeasonRulesPublished(
                season=season,
                rules_version=1,
                eligible_grades=GradeRange(lowest=6, highest=11),
                max_career_events=3,
                diagnostics_stages=STAGES,
                starts_on=self.starts_on,
                ends_on=date(season + 1, 5, 31),
                applies_from=self.starts_on,
            ),
            identity.RegionAdmitted(
                region_id=region,
                region_code="47",
                name="Ленинградская область",
                season=season,
                time_zone="Europe/Moscow",
                coordinator="ГБУ ДО «Интеллект»",
            ),
            identity.DiagnosticsWindowScheduled(
                region_id=region,
                season=season,
                stages=STAGES,
                opens_on=date(season, 10, 11),
                closes_on=date(season, 10, 31),
            ),
            identity.SchoolRegistered(
                school_id=self.school_id,
                region_id=region,
                name="МОУ «СОШ № 3»",
                municipality=MUNICIPALITY,
            ),
        ]
        for stage in STAGES:
            out.append(
                diagnostics.InstrumentVersionPublished(
                    instrument=INSTRUMENTS[stage],
                    version="1.0.0",
                    stage=stage,
                    item_count=20,
                    scales=("nature", "technology", "person", "sign_system", "artistic_image")
                    if stage is Stage.INTERESTS
                    else ("level",),
                    item_bank_digest=DIGEST,
                    environment_mapping=MappingRef(
                        mapping_id="interests_to_environments", version="1.0.0"
                    )
                    if stage is Stage.INTERESTS
                    else None,
                )
            )
        for number in range(3):
            starts = datetime(self.season, 11, 12 + number, 10, tzinfo=UTC)
            out.append(
                events.CareerEventPublished(
                    career_event_id=self.career_event_id(number),
                    region_id=region,
                    season=season,
                    organiser_id=uid("organiser"),
                    title="Мастер сельскохозяйственного производства",
                    profession="agricultural_master",
                    environments=(Environment.AGRARIAN,),
                    venue=events.Venue(
                        kind=events.VenueKind.COLLEGE,
                        name="ГАПОУ ЛО «Лужский агропромышленный техникум»",
                        address="Луга, ул. Победы, 1",
                        municipality=MUNICIPALITY,
                    ),
                    description="Практическое задание в учебном хозяйстве техникума.",
                    level=events.CareerEventLevel.INTRODUCTORY,
                    format=events.CareerEventFormat.IN_PERSON,
                    municipality=MUNICIPALITY,
                    sessions=(
                        events.CareerEventSession(
                            session_id=events.first_session_id(self.career_event_id(number)),
                            starts_at=starts,
                            ends_at=starts + timedelta(hours=3),
                            capacity=1000,
                        ),
                    ),
                    eligible_grades=GradeRange(lowest=6, highest=11),
                    accommodates=(),
                    mentors=(uid("mentor"),),
                )
            )
        return out

    # ------------------------------------------------------------------ one pupil
    async def registered(self, pid: UUID, number: int, grade: int = 7) -> DomainEvent:
        last, first, patronymic = NAMES[number % len(NAMES)]
        sealed = await seal(
            self.cipher,
            str(pid),
            {
                "full_name": {"last_name": last, "first_name": first, "patronymic": patronymic},
                "birth_date": f"{self.season - grade - 6}-04-12",
                "snils": "112-233-445 95",
                "health_limitations": {"has_limitations": False, "kind": None},
                "accessibility_needs": [],
            },
            sealed_scopes(identity.ParticipantRegistered),
        )
        return identity.ParticipantRegistered(
            participant_id=pid,
            school_id=self.school_id,
            region_id=self.region_id,
            season=self.season,
            grade=grade,
            **sealed,
        )

    async def consent(self, pid: UUID) -> list[DomainEvent]:
        consent_id = uid(f"consent:{pid}")
        guardian_id = uid(f"guardian:{pid}")
        guardian_name = {"last_name": "Соколова", "first_name": "Ирина", "patronymic": "Петровна"}
        sealed = await seal(
            self.cipher,
            str(pid),
            {
                "guardian_full_name": guardian_name,
                "guardian_passport": {
                    "series": "4100",
                    "number": "123456",
                    "issued_by": "ТП УФМС",
                    "issued_on": "2010-01-01",
                },
            },
        )
        purposes = [p.value for p in consent.ConsentPurpose]
        valid_until = (self.today + timedelta(days=365)).isoformat()
        linked = await seal(
            self.cipher,
            str(pid),
            {
                "guardian_full_name": guardian_name,
                "guardian_contact": {"phone": "+79110000000", "email": None},
            },
        )
        return [
            newest(
                "ConsentSubmitted",
                participant_id=str(pid),
                consent_id=str(consent_id),
                school_id=str(self.school_id),
                document_id=str(uid(f"document:{consent_id}")),
                form_version=f"{self.season}-1",
                purposes=purposes,
                signed_on=self.starts_on.isoformat(),
                valid_until=valid_until,
                guardian_id=str(guardian_id),
                relationship="parent",
                **{k: v.model_dump(mode="json", by_alias=True) for k, v in sealed.items()},
            ),
            newest(
                "ConsentVerified",
                participant_id=str(pid),
                consent_id=str(consent_id),
                purposes=purposes,
                valid_until=valid_until,
            ),
            consent.GuardianLinked(
                participant_id=pid,
                guardian_id=guardian_id,
                consent_id=consent_id,
                relationship=consent.Relationship.PARENT,
                **linked,
            ),
        ]

    def stages(self, pid: UUID) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        for stage in STAGES:
            attempt_id = uid(f"attempt:{pid}:{stage.value}")
            out.append(
                diagnostics.StageStarted(
                    attempt_id=attempt_id,
                    participant_id=pid,
                    season=self.season,
                    stage=stage,
                    instruments=(_instrument(stage),),
                )
            )
            out.append(
                diagnostics.StageCompleted(
                    attempt_id=attempt_id,
                    participant_id=pid,
                    season=self.season,
                    stage=stage,
                    answer_sheet=diagnostics.AnswerSheetRef(
                        answer_sheet_id=uid(f"sheet:{attempt_id}"), item_count=20, digest=DIGEST
                    ),
                    **_result(stage),
                )
            )
        return out

    async def career_events(self, pid: UUID) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        for number in range(3):
            event_id = self.career_event_id(number)
            booking_id = uid(f"booking:{pid}:{number}")
            sealed = await seal(
                self.cipher, str(pid), {"comment": "Отлично справилась с практическим заданием!"}
            )
            out += [
                events.SeatBooked(
                    career_event_id=event_id,
                    session_id=events.first_session_id(event_id),
                    booking_id=booking_id,
                    participant_id=pid,
                    season=self.season,
                    route=events.BookingRoute.BOOKED,
                ),
                events.CareerEventAttended(
                    career_event_id=event_id,
                    session_id=events.first_session_id(event_id),
                    booking_id=booking_id,
                    participant_id=pid,
                ),
                events.MentorFeedbackGiven(
                    career_event_id=event_id,
                    feedback_id=uid(f"feedback:{pid}:{number}"),
                    booking_id=booking_id,
                    participant_id=pid,
                    mentor_id=uid("mentor"),
                    task_completion=events.TaskCompletion.COMPLETED,
                    interest_shown=events.InterestShown.HIGH,
                    skills_shown=(
                        events.SkillShown(skill="teamwork", level=Level.PROFICIENT),
                        events.SkillShown(skill="attention_to_detail", level=Level.BASIC),
                    ),
                    suggested_environments=(Environment.AGRARIAN,),
                    **sealed,
                ),
            ]
        return out

    def recommendations(self, pid: UUID) -> DomainEvent:
        because = (MappingRowRef(mapping_id="recommendation_rules", version="1.0.0", row="r1"),)
        attempt_id = uid(f"attempt:{pid}:{Stage.INTERESTS.value}")
        evidence = (
            recommender.Evidence(
                source=recommender.EvidenceSource.STAGE_RESULT,
                ref_id=attempt_id,
                scale="environments.scores.smart",
            ),
        )
        return recommender.RecommendationsIssued(
            recommendation_set_id=uid(f"recommendations:{pid}"),
            participant_id=pid,
            season=self.season,
            rules=MappingRef(mapping_id="recommendation_rules", version="1.0.0"),
            basis=recommender.Basis(
                attempts=(
                    recommender.AttemptBasis(
                        attempt_id=attempt_id,
                        stage=Stage.INTERESTS,
                        answer_sheet_id=uid(f"sheet:{attempt_id}"),
                        answer_sheet_digest=DIGEST,
                        instruments=(_instrument(Stage.INTERESTS),),
                    ),
                ),
                attended_bookings=(),
                feedback_ids=(),
            ),
            leading_environments=(Environment.SMART, Environment.INDUSTRIAL),
            study_plan=(
                recommender.StudyPlanItem(
                    subject=recommender.SchoolSubject.INFORMATICS,
                    intent=recommender.StudyIntent.IN_DEPTH_COURSE,
                    environment=Environment.SMART,
                    because=because,
                    evidence=evidence,
                ),
            ),
            opportunities=(),
            supersedes=None,
            # What v2 publishes beyond v1 is not what this benchmark measures.
            environment_scores=None,
            profile_classes=None,
            routes=None,
        )

    async def portfolio(self, number: int) -> list[DomainEvent]:
        """Every event of one pupil's whole portfolio, in a plausible order."""
        pid = self.pupil(number)
        return [
            await self.registered(pid, number),
            *await self.consent(pid),
            *self.stages(pid),
            *await self.career_events(pid),
            self.recommendations(pid),
        ]


def _result(stage: Stage) -> dict[str, Any]:
    if stage is Stage.INTERESTS:
        return {
            "interests": diagnostics.InterestsResult(
                klimov=diagnostics.KlimovResult(
                    instrument=_instrument(stage),
                    scores=diagnostics.KlimovScores(
                        nature=3, technology=7, person=2, sign_system=6, artistic_image=2
                    ),
                ),
                environments=diagnostics.EnvironmentProfile(
                    mapping=MappingRef(mapping_id="interests_to_environments", version="1.0.0"),
                    scores=diagnostics.EnvironmentScores(
                        safe=40,
                        smart=88,
                        social=25,
                        healthy=30,
                        comfortable=35,
                        industrial=81,
                        creative=20,
                        business=45,
                        agrarian=10,
                    ),
                    leading=(Environment.SMART, Environment.INDUSTRIAL),
                ),
            )
        }
    if stage is Stage.SOFT_SKILLS:
        return {
            "soft_skills": diagnostics.SoftSkillsResult(
                instrument=_instrument(stage),
                levels=tuple(
                    diagnostics.SkillLevel(
                        skill=skill, level=Level.PROFICIENT, score=8, max_score=10
                    )
                    for skill in ("teamwork", "communication", "critical_thinking")
                ),
            )
        }
    return {
        "professions_knowledge": diagnostics.ProfessionsKnowledgeResult(
            instrument=_instrument(stage),
            levels=tuple(
                diagnostics.KnowledgeLevel(
                    environment=environment, level=Level.BASIC, score=5, max_score=10
                )
                for environment in (Environment.SMART, Environment.INDUSTRIAL, Environment.AGRARIAN)
            ),
        )
    }


async def append(stores: dict[str, EventStore], domain_events: Sequence[DomainEvent]) -> None:
    """Each event to its producer's store, as that service's command would record it."""
    for event in domain_events:
        new = encode(event, EventMetadata(actor="bench", actor_role="operator"))
        await stores[event.service].append(event.stream_id, [new], ANY)


async def prepare(settings: PortfolioSettings, pupils: int, today: date) -> World:
    """Fill the portfolio's stores under `settings.var_dir` (SQLite: the sources, the key store,
    the read model) with `pupils` whole portfolios, projected as the embedded feed does."""
    stores = await open_source_stores(settings, SOURCES)
    keys = await open_key_store(settings)
    read_model = await open_read_model(settings)
    try:
        world = World(FieldCipher(keys), today)
        await append(stores, world.programme())
        for number in range(pupils):
            await append(stores, await world.portfolio(number))
        await EmbeddedFeed(read_model, PortfolioProjection(), stores).catch_up({})
        return world
    finally:
        await read_model.close()
        await keys.close()
        for store in stores.values():
            await store.close()
