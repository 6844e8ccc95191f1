"""Fixtures of the portfolio tests: catalogue events of a small world (two regions, three schools,
pupils), sealed with a real cipher, recorded as their services' stores would record them; and a
running portfolio service on a temporary `var/`, fed in-process from SQLite stores that the tests
append to, with tokens for every role."""

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

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
from bilet.crypto import FieldCipher, InMemoryKeyStore, KeyStore
from bilet.eventstore import ANY, AppendResult, EventStore, RecordedEvent
from bilet.http import Role
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.stores import open_key_store, open_source_stores
from bilet_portfolio.app import create_app
from bilet_portfolio.settings import SOURCES, PortfolioSettings

NS = UUID("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")


def uid(name: str) -> UUID:
    return uuid.uuid5(NS, name)


LENINGRAD = uid("region:47")
SPB = uid("region:78")
SCHOOL_3 = uid("school:3")  # Leningrad oblast
SCHOOL_5 = uid("school:5")  # Leningrad oblast
SPB_SCHOOL = uid("school:spb")  # St Petersburg
SEASON = 2019
STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
ALL_PURPOSES = tuple(consent.ConsentPurpose)
DIGEST = "ab" * 32
START = datetime(2019, 10, 1, 9, 0, tzinfo=UTC)
TODAY = date(2019, 11, 5)  # the service's clock in these tests: within the 2019 season


def pupil(name: str) -> UUID:
    return uid(f"participant:{name}")


def newest(event_type: str, **data: Any) -> DomainEvent:
    """The newest published version of a type, from its JSON form: tests follow new versions
    (the consent service adds some) without change while the fields they set stay."""
    return CATALOGUE.latest(event_type).model_validate_json(json.dumps(data))


class Catalogue:
    """Builds catalogue events of the test world; personal fields sealed with `cipher`."""

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    # ------------------------------------------------------------------ identity
    def season_rules(self, rules_version: int = 1, stages: Sequence[Stage] = STAGES) -> Any:
        return identity.SeasonRulesPublished(
            season=SEASON,
            rules_version=rules_version,
            eligible_grades=GradeRange(lowest=6, highest=11),
            max_career_events=3,
            diagnostics_stages=tuple(stages),
            starts_on=date(2019, 9, 1),
            ends_on=date(2020, 5, 31),
            applies_from=date(2019, 9, 1),
        )

    def region(self, region_id: UUID = LENINGRAD, code: str = "47") -> Any:
        return identity.RegionAdmitted(
            region_id=region_id,
            region_code=code,
            name="Ленинградская область" if code == "47" else "Санкт-Петербург",
            season=SEASON,
            time_zone="Europe/Moscow",
            coordinator="ГБУ ДО «Интеллект»",
        )

    def window(self, region_id: UUID = LENINGRAD) -> Any:
        return identity.DiagnosticsWindowScheduled(
            region_id=region_id,
            season=SEASON,
            stages=STAGES,
            opens_on=date(2019, 10, 11),
            closes_on=date(2019, 10, 31),
        )

    def school(self, school_id: UUID = SCHOOL_3, region_id: UUID = LENINGRAD) -> Any:
        names = {SCHOOL_3: "МОУ «СОШ № 3»", SCHOOL_5: "МБОУ «СОШ № 5»"}
        return identity.SchoolRegistered(
            school_id=school_id,
            region_id=region_id,
            name=names.get(school_id, "ГБОУ СОШ № 1"),
            municipality="Лужский муниципальный район",
        )

    async def registered(
        self,
        participant_id: UUID,
        *,
        school_id: UUID = SCHOOL_3,
        region_id: UUID = LENINGRAD,
        grade: int = 7,
        name: tuple[str, str, str | None] = ("Соколова", "Дарья", "Андреевна"),
    ) -> Any:
        sealed = await seal(
            self.cipher,
            str(participant_id),
            {
                "full_name": {"last_name": name[0], "first_name": name[1], "patronymic": name[2]},
                "birth_date": "2007-04-12",
                "snils": "112-233-445 95",
                "health_limitations": {"has_limitations": False, "kind": None},
                "accessibility_needs": [],
            },
            sealed_scopes(identity.ParticipantRegistered),
        )
        return identity.ParticipantRegistered(
            participant_id=participant_id,
            school_id=school_id,
            region_id=region_id,
            season=SEASON,
            grade=grade,
            **sealed,
        )

    async def corrected(
        self, participant_id: UUID, *, grade: int | None = None, last_name: str | None = None
    ) -> Any:
        sealed: dict[str, Any] = {}
        if last_name is not None:
            sealed = await seal(
                self.cipher,
                str(participant_id),
                {"full_name": {"last_name": last_name, "first_name": "Дарья", "patronymic": None}},
            )
        return identity.ParticipantDetailsCorrected(
            participant_id=participant_id,
            reason=identity.CorrectionReason.TYPING_ERROR,
            grade=grade,
            **sealed,
        )

    def moved(self, participant_id: UUID, to_school: UUID, to_region: UUID, grade: int) -> Any:
        return identity.ParticipantMovedToSchool(
            participant_id=participant_id,
            from_school_id=SCHOOL_3,
            to_school_id=to_school,
            to_region_id=to_region,
            grade=grade,
        )

    # ------------------------------------------------------------------ consent
    async def submitted(
        self,
        participant_id: UUID,
        consent_id: UUID,
        *,
        purposes: Sequence[consent.ConsentPurpose] = ALL_PURPOSES,
        valid_until: date = date(2020, 8, 31),
    ) -> Any:
        sealed = await seal(
            self.cipher,
            str(participant_id),
            {
                "guardian_full_name": {
                    "last_name": "Соколова",
                    "first_name": "Ирина",
                    "patronymic": "Петровна",
                },
                "guardian_passport": {
                    "series": "4100",
                    "number": "123456",
                    "issued_by": "ТП УФМС",
                    "issued_on": "2010-01-01",
                },
            },
        )
        return newest(
            "ConsentSubmitted",
            participant_id=str(participant_id),
            consent_id=str(consent_id),
            school_id=str(SCHOOL_3),
            document_id=str(uid(f"document:{consent_id}")),
            form_version="2019-1",
            purposes=[p.value for p in purposes],
            signed_on="2019-09-02",
            valid_until=valid_until.isoformat(),
            guardian_id=str(uid(f"guardian:{participant_id}")),
            relationship="parent",
            **{k: v.model_dump(mode="json", by_alias=True) for k, v in sealed.items()},
        )

    def verified(
        self,
        participant_id: UUID,
        consent_id: UUID,
        *,
        purposes: Sequence[consent.ConsentPurpose] = ALL_PURPOSES,
        valid_until: date = date(2020, 8, 31),
    ) -> Any:
        return newest(
            "ConsentVerified",
            participant_id=str(participant_id),
            consent_id=str(consent_id),
            purposes=[p.value for p in purposes],
            valid_until=valid_until.isoformat(),
        )

    def purposes_withdrawn(
        self, participant_id: UUID, consent_id: UUID, withdrawn: Sequence[str]
    ) -> Any:
        remaining = [p.value for p in ALL_PURPOSES if p.value not in withdrawn]
        return newest(
            "ConsentPurposesWithdrawn",
            participant_id=str(participant_id),
            consent_id=str(consent_id),
            withdrawn=list(withdrawn),
            remaining=remaining,
            withdrawn_on="2019-11-01",
        )

    def rejected(self, participant_id: UUID, consent_id: UUID) -> Any:
        return consent.ConsentRejected(
            participant_id=participant_id,
            consent_id=consent_id,
            reasons=(consent.RejectionReason.UNREADABLE_SCAN,),
        )

    def withdrawn(self, participant_id: UUID, consent_id: UUID) -> Any:
        return consent.ConsentWithdrawn(
            participant_id=participant_id,
            consent_id=consent_id,
            withdrawn_on=date(2019, 11, 1),
            erase_by=date(2019, 12, 1),
        )

    async def guardian(self, participant_id: UUID, guardian_id: UUID, consent_id: UUID) -> Any:
        sealed = await seal(
            self.cipher,
            str(participant_id),
            {
                "guardian_full_name": {
                    "last_name": "Соколова",
                    "first_name": "Ирина",
                    "patronymic": None,
                },
                "guardian_contact": {"phone": "+79110000000", "email": None},
            },
        )
        return consent.GuardianLinked(
            participant_id=participant_id,
            guardian_id=guardian_id,
            consent_id=consent_id,
            relationship=consent.Relationship.PARENT,
            **sealed,
        )

    def erased(self, participant_id: UUID) -> Any:
        return consent.ParticipantErased(
            participant_id=participant_id,
            reason=consent.ErasureReason.CONSENT_WITHDRAWN,
            erased_at=datetime(2019, 12, 1, tzinfo=UTC),
            destruction_record_id=uid(f"destruction:{participant_id}"),
        )

    # ------------------------------------------------------------------ diagnostics
    def instrument(self) -> Any:
        return diagnostics.InstrumentVersionPublished(
            instrument=Instrument.KLIMOV_DDO,
            version="1.0.0",
            stage=Stage.INTERESTS,
            item_count=20,
            scales=("nature", "technology", "person", "sign_system", "artistic_image"),
            item_bank_digest=DIGEST,
            environment_mapping=MappingRef(mapping_id="interests_to_environments", version="1.0.0"),
        )

    def started(self, participant_id: UUID, attempt_id: UUID, stage: Stage) -> Any:
        return diagnostics.StageStarted(
            attempt_id=attempt_id,
            participant_id=participant_id,
            season=SEASON,
            stage=stage,
            instruments=(_instrument_of(stage),),
        )

    def completed(
        self, participant_id: UUID, attempt_id: UUID, stage: Stage, *, smart: int = 88
    ) -> Any:
        result: dict[str, Any] = {}
        if stage is Stage.INTERESTS:
            result["interests"] = diagnostics.InterestsResult(
                klimov=diagnostics.KlimovResult(
                    instrument=_instrument_of(stage),
                    scores=diagnostics.KlimovScores(
                        nature=3, technology=7, person=2, sign_system=6, artistic_image=2
                    ),
                ),
                environments=diagnostics.EnvironmentProfile(
                    mapping=MappingRef(mapping_id="interests_to_environments", version="1.0.0"),
                    scores=diagnostics.EnvironmentScores(
                        safe=40,
                        smart=smart,
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
        elif stage is Stage.SOFT_SKILLS:
            result["soft_skills"] = diagnostics.SoftSkillsResult(
                instrument=_instrument_of(stage),
                levels=(
                    diagnostics.SkillLevel(
                        skill="teamwork", level=Level.PROFICIENT, score=8, max_score=10
                    ),
                ),
            )
        else:
            result["professions_knowledge"] = diagnostics.ProfessionsKnowledgeResult(
                instrument=_instrument_of(stage),
                levels=(
                    diagnostics.KnowledgeLevel(
                        environment=Environment.SMART, level=Level.BASIC, score=5, max_score=10
                    ),
                ),
            )
        return diagnostics.StageCompleted(
            attempt_id=attempt_id,
            participant_id=participant_id,
            season=SEASON,
            stage=stage,
            answer_sheet=diagnostics.AnswerSheetRef(
                answer_sheet_id=uid(f"sheet:{attempt_id}"), item_count=20, digest=DIGEST
            ),
            **result,
        )

    # ------------------------------------------------------------------ career events
    def career_event(self, career_event_id: UUID, region_id: UUID = LENINGRAD) -> Any:
        return events.CareerEventPublished(
            career_event_id=career_event_id,
            region_id=region_id,
            season=SEASON,
            organiser_id=uid("organiser"),
            title="Мастер сельскохозяйственного производства",
            profession="agricultural_master",
            environments=(Environment.AGRARIAN,),
            venue=events.Venue(
                kind=events.VenueKind.COLLEGE,
                name="ГАПОУ ЛО «Лужский агропромышленный техникум»",
                address="Луга, ул. Победы, 1",
                municipality="Лужский муниципальный район",
            ),
            description="Практическое задание в учебном хозяйстве техникума.",
            level=events.CareerEventLevel.INTRODUCTORY,
            format=events.CareerEventFormat.IN_PERSON,
            municipality="Лужский муниципальный район",
            sessions=(
                events.CareerEventSession(
                    session_id=events.first_session_id(career_event_id),
                    starts_at=datetime(2019, 11, 12, 10, tzinfo=UTC),
                    ends_at=datetime(2019, 11, 12, 13, tzinfo=UTC),
                    capacity=20,
                ),
            ),
            eligible_grades=GradeRange(lowest=6, highest=11),
            accommodates=(),
            mentors=(uid("mentor"),),
        )

    def booked(
        self,
        career_event_id: UUID,
        booking_id: UUID,
        participant_id: UUID,
        session_id: UUID | None = None,
        route: events.BookingRoute = events.BookingRoute.BOOKED,
    ) -> Any:
        return events.SeatBooked(
            career_event_id=career_event_id,
            session_id=session_id or events.first_session_id(career_event_id),
            booking_id=booking_id,
            participant_id=participant_id,
            season=SEASON,
            route=route,
        )

    def waitlisted(
        self,
        career_event_id: UUID,
        session_id: UUID,
        booking_id: UUID,
        participant_id: UUID,
        position: int,
    ) -> Any:
        return events.WaitlistJoined(
            career_event_id=career_event_id,
            session_id=session_id,
            booking_id=booking_id,
            participant_id=participant_id,
            season=SEASON,
            position=position,
        )

    def booking_cancelled(
        self, career_event_id: UUID, booking_id: UUID, participant_id: UUID
    ) -> Any:
        return events.BookingCancelled(
            career_event_id=career_event_id,
            booking_id=booking_id,
            participant_id=participant_id,
            reason=events.BookingCancellationReason.PARTICIPANT_CANCELLED,
        )

    def career_event_cancelled(self, career_event_id: UUID) -> Any:
        return events.CareerEventCancelled(
            career_event_id=career_event_id,
            reason=events.CareerEventCancellationReason.SAFETY,
        )

    def attended(self, career_event_id: UUID, booking_id: UUID, participant_id: UUID) -> Any:
        return events.CareerEventAttended(
            career_event_id=career_event_id,
            session_id=events.first_session_id(career_event_id),
            booking_id=booking_id,
            participant_id=participant_id,
        )

    async def feedback(
        self,
        career_event_id: UUID,
        feedback_id: UUID,
        booking_id: UUID,
        participant_id: UUID,
        comment: str | None = "Отлично справилась с заданием!",
    ) -> Any:
        sealed: dict[str, Any] = {}
        if comment is not None:
            sealed = await seal(self.cipher, str(participant_id), {"comment": comment})
        return events.MentorFeedbackGiven(
            career_event_id=career_event_id,
            feedback_id=feedback_id,
            booking_id=booking_id,
            participant_id=participant_id,
            mentor_id=uid("mentor"),
            task_completion=events.TaskCompletion.COMPLETED,
            interest_shown=events.InterestShown.HIGH,
            skills_shown=(events.SkillShown(skill="teamwork", level=Level.PROFICIENT),),
            suggested_environments=(Environment.AGRARIAN,),
            **sealed,
        )

    # ------------------------------------------------------------------ recommender
    def recommendations(
        self, participant_id: UUID, set_id: UUID, supersedes: UUID | None = None
    ) -> Any:
        because = (MappingRowRef(mapping_id="recommendation_rules", version="1.0.0", row="r1"),)
        evidence = (
            recommender.Evidence(
                source=recommender.EvidenceSource.STAGE_RESULT,
                ref_id=uid("attempt"),
                scale="environments.scores.smart",
            ),
        )
        return recommender.RecommendationsIssued(
            recommendation_set_id=set_id,
            participant_id=participant_id,
            season=SEASON,
            rules=MappingRef(mapping_id="recommendation_rules", version="1.0.0"),
            basis=recommender.Basis(
                attempts=(
                    recommender.AttemptBasis(
                        attempt_id=uid("attempt"),
                        stage=Stage.INTERESTS,
                        answer_sheet_id=uid("sheet"),
                        answer_sheet_digest=DIGEST,
                        instruments=(_instrument_of(Stage.INTERESTS),),
                    ),
                ),
                attended_bookings=(),
                feedback_ids=(),
            ),
            leading_environments=(Environment.SMART,),
            study_plan=(
                recommender.StudyPlanItem(
                    subject=recommender.SchoolSubject.INFORMATICS,
                    intent=recommender.StudyIntent.IN_DEPTH_COURSE,
                    environment=Environment.SMART,
                    because=because,
                    evidence=evidence,
                ),
            ),
            environment_scores=(
                recommender.EnvironmentScore(
                    environment=Environment.SMART,
                    score=74,
                    contributions=(
                        recommender.ScoreContribution(
                            source=recommender.ScoreSource.INTERESTS,
                            because=because[0],
                            weight=50,
                            points=90,
                            evidence=evidence,
                        ),
                    ),
                ),
            ),
            profile_classes=(
                recommender.ProfileClass(
                    environment=Environment.SMART,
                    title="Информационно-технологический класс",
                    reason="Информатика и математика на углублённом уровне.",
                    because=because,
                ),
            ),
            routes=(
                recommender.RouteAfterSchool(
                    environment=Environment.SMART,
                    after_grade=11,
                    route=recommender.EducationRoute.VO,
                    programme="Прикладная информатика",
                    reason="Направление вуза для умной среды.",
                    because=because,
                ),
            ),
            opportunities=(),
            supersedes=supersedes,
        )


def _instrument_of(stage: Stage) -> InstrumentRef:
    instrument = {
        Stage.INTERESTS: Instrument.KLIMOV_DDO,
        Stage.SOFT_SKILLS: Instrument.SOFT_SKILLS_BANK,
        Stage.PROFESSIONS_KNOWLEDGE: Instrument.PROFESSIONS_KNOWLEDGE_BANK,
    }[stage]
    return InstrumentRef(instrument=instrument, version="1.0.0")


@dataclass
class Recorder:
    """Records events as their services' stores would: a stream version per stream, rising
    positions per source, one second apart."""

    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    clock: itertools.count = field(default_factory=lambda: itertools.count())  # type: ignore[type-arg]

    def record(self, event: DomainEvent) -> tuple[str, RecordedEvent]:
        source = event.service
        new = encode(event, EventMetadata(actor="test", actor_role="test"))
        key = (source, event.stream_id)
        version = self.versions[key] = self.versions.get(key, -1) + 1
        position = self.positions[source] = self.positions.get(source, 0) + 1
        return source, RecordedEvent(
            stream_id=event.stream_id,
            version=version,
            position=position,
            event_id=new.event_id,
            type=new.type,
            data=new.data,
            metadata=new.metadata,
            recorded_at=START + timedelta(seconds=next(self.clock)),
        )


@pytest.fixture
async def keystore() -> AsyncIterator[InMemoryKeyStore]:
    async with InMemoryKeyStore() as store:
        yield store


@pytest.fixture
def catalogue(keystore: InMemoryKeyStore) -> Catalogue:
    return Catalogue(FieldCipher(keystore))


# ---------------------------------------------------------------------- the running service
@dataclass
class Service:
    """A running portfolio service fed in-process from SQLite stores the test appends to."""

    client: httpx.AsyncClient
    app: FastAPI
    signer: DevelopmentSigner
    settings: PortfolioSettings
    stores: dict[str, EventStore]
    catalogue: Catalogue
    keys: KeyStore

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}

    async def append(self, *domain_events: DomainEvent) -> AppendResult:
        """Append each event to its producer's store; the last commit's result."""
        result = None
        for event in domain_events:
            new = encode(event, EventMetadata(actor="test", actor_role="test"))
            result = await self.stores[event.service].append(event.stream_id, [new], ANY)
        assert result is not None
        return result

    async def settle(self) -> None:
        """Wait until the read model applied everything appended so far, from every source."""
        read_model = self.app.state.read_model
        for source, store in self.stores.items():
            head = await store.head_position()
            if head:
                await read_model.wait_until("portfolio", source, head, 10.0)

    async def pupil_with_consent(
        self, name: str, *, school_id: UUID = SCHOOL_3, region_id: UUID = LENINGRAD, grade: int = 7
    ) -> UUID:
        pid = pupil(name)
        cid = uid(f"consent:{name}")
        c = self.catalogue
        await self.append(
            await c.registered(pid, school_id=school_id, region_id=region_id, grade=grade),
            await c.submitted(pid, cid),
            c.verified(pid, cid),
        )
        await self.settle()
        return pid


async def world(service: "Service") -> None:
    c = service.catalogue
    await service.append(
        c.season_rules(),
        c.region(),
        c.region(SPB, "78"),
        c.window(),
        c.school(SCHOOL_3),
        c.school(SCHOOL_5),
        c.school(SPB_SCHOOL, SPB),
    )


@pytest.fixture
def make_settings(tmp_path: Path) -> Any:
    def make(**overrides: Any) -> PortfolioSettings:
        values: dict[str, Any] = {"var_dir": tmp_path / "var", "portfolio_embedded_feed": True}
        values.update(overrides)
        return PortfolioSettings(**values)

    return make


@pytest.fixture
async def service(make_settings: Any) -> AsyncIterator[Service]:
    settings: PortfolioSettings = make_settings()
    stores = await open_source_stores(settings, SOURCES)
    keys = await open_key_store(settings)
    try:
        app = create_app(settings)
        async with app_lifespan(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://portfolio"
            ) as client:
                running = Service(
                    client,
                    app,
                    ensure_development_keys(settings.var_dir),
                    settings,
                    stores,
                    Catalogue(FieldCipher(keys)),
                    keys,
                )
                app.state.portfolio.today = lambda: TODAY
                await world(running)
                yield running
    finally:
        await keys.close()
        for store in stores.values():
            await store.close()


SecondApi = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def second_api(service: Service, make_settings: Any) -> SecondApi:
    """Another API over the service's files, not fed by itself (as one fed by a worker in
    another process), with the settings overridden: `async with second_api(**overrides) as
    (app, client)`; it reads on the world's day."""

    @asynccontextmanager
    async def opened(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        api = create_app(make_settings(portfolio_embedded_feed=False, **overrides))
        async with (
            app_lifespan(api) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://portfolio"
            ) as client,
        ):
            api.state.portfolio.today = service.app.state.portfolio.today
            yield api, client

    return opened


@dataclass(frozen=True)
class Ids:
    """The world's ids, for test modules (which cannot import this conftest)."""

    leningrad: UUID = LENINGRAD
    spb: UUID = SPB
    school_3: UUID = SCHOOL_3
    school_5: UUID = SCHOOL_5
    spb_school: UUID = SPB_SCHOOL

    @staticmethod
    def uid(name: str) -> UUID:
        return uid(name)

    @staticmethod
    def pupil(name: str) -> UUID:
        return pupil(name)


@pytest.fixture
def ids() -> Ids:
    return Ids()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
