"""`bvb simulate season`: a synthetic national season written into the services' own stores
through their own use cases (docs/adr/0045).

Identity admits the regions, registers schools and pupils (valid СНИЛС, birth dates that fit
the grade); consent takes a guardian's signed form per pupil and the coordinator verifies it;
diagnostics has every pupil start, answer and complete the season's three stages in the
region's window; career events are published per region, booked within their capacity,
attended and given mentors' feedback. Every step is the service's use case, so every rule
applies: what a rule refuses is counted, never forced in. Each service reads the others'
facts through its own embedded feed, caught up between the phases.

Reproducible: the people and every choice come from the seed, the services' clocks are moved
through the season's calendar, and the few ids the services draw themselves (a consent's, an
attempt's, an event's) come from a generator seeded with it while the simulation runs.
"""

import contextlib
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any
from uuid import UUID

from bilet.audit import EventStoreAuditLog
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import CareerEventPublished
from bilet.contracts.vocabulary import Stage
from bilet.crypto import FieldCipher
from bilet.http.auth import Principal, Role
from bilet_consent.application.inputs import CommandContext as ConsentContext
from bilet_consent.application.inputs import SubmissionInput
from bilet_consent.demo import generated_document
from bilet_consent.domain.errors import DomainError as ConsentRefusal
from bilet_consent.runtime import open_runtime as open_consent
from bilet_consent.settings import ConsentSettings
from bilet_diagnostics.application.inputs import CommandContext as DiagnosticsContext
from bilet_diagnostics.domain.errors import DomainError as DiagnosticsRefusal
from bilet_diagnostics.runtime import open_runtime as open_diagnostics
from bilet_diagnostics.settings import DiagnosticsSettings
from bilet_events.application.inputs import AttendanceRecord
from bilet_events.application.service import EventsService
from bilet_events.demo import booking_id, feedback, mentor, organiser, registrar
from bilet_events.demo_offers import OFFERS, published
from bilet_events.domain.errors import DomainError as EventsRefusal
from bilet_events.runtime import open_runtime as open_events
from bilet_events.settings import EventsSettings
from bilet_host import simulate_people as people
from bilet_identity.adapters.pseudonym_key import load_pseudonym_key
from bilet_identity.adapters.stores import open_event_store, open_key_store, open_read_model
from bilet_identity.application.consent_state import ConsentStates
from bilet_identity.application.inputs import CommandContext as IdentityContext
from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.application.service import IdentityService
from bilet_identity.domain.errors import DomainError as IdentityRefusal
from bilet_identity.domain.people import GradeAgeBand
from bilet_identity.domain.season import PublishSeasonRules
from bilet_identity.settings import IdentitySettings

STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
PURPOSES = (
    Purpose.PROGRAMME_PARTICIPATION,
    Purpose.ONLINE_DIAGNOSTICS,
    Purpose.CAREER_EVENTS,
    Purpose.PORTFOLIO,
    Purpose.RECOMMENDATIONS,
)
ANALYTICS_SHARE = 0.7  # of the guardians also consent to pseudonymised analytics
SEATS_PER_PUPIL = 1.3  # career events are published until the region has this many seats a pupil


@dataclass(frozen=True)
class SeasonPlan:
    seed: int
    regions: int
    pupils: int
    season: int

    def calendar(self, month: int, day: int) -> datetime:
        return datetime.combine(date(self.season, month, day), time(9, 0), tzinfo=UTC)


@dataclass
class SimulationReport:
    """What the season holds, and what the services' rules refused (expected: nothing)."""

    pupils: int = 0
    schools: int = 0
    consents: int = 0
    analytics_consents: int = 0
    stages: int = 0
    career_events: int = 0
    bookings: int = 0
    attended: int = 0
    feedback: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    # wall time of each service's phase (not part of what the season is)
    seconds: dict[str, float] = field(default_factory=dict, compare=False)

    def refusal(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1


class SeasonClock:
    """The clock every service runs on during the simulation: moved through the calendar."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def today(self) -> date:
        return self.now.date()


@contextlib.contextmanager
def seeded_ids(seed: int) -> Iterator[None]:
    """The ids the services draw with `uuid.uuid4()` come from the seed while this runs (the
    simulation is single-threaded: nothing else draws ids meanwhile)."""
    rng = random.Random(f"bilet-sim-ids-{seed}")  # noqa: S311 - ids of synthetic data
    original = uuid.uuid4

    def drawn() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    setattr(uuid, "uuid4", drawn)  # noqa: B010 - the services call it through the module
    try:
        yield
    finally:
        setattr(uuid, "uuid4", original)  # noqa: B010


def _principal(role: Role, **scope: Any) -> Principal:
    return Principal(subject=f"simulation-{role.value}", role=role, **scope)


def _settings(kind: Callable[..., Any], var_dir: Path | None) -> Any:
    return kind() if var_dir is None else kind(var_dir=var_dir)


async def simulate_season(plan: SeasonPlan, var_dir: Path | None) -> SimulationReport:
    """Write the season into the stores of `var_dir` (or BVB_VAR_DIR / BVB_DATABASE_URL)."""
    report = SimulationReport()
    clock = SeasonClock(plan.calendar(9, 1))
    regions = people.regions(plan.regions)
    shares = people.region_shares(plan.pupils, plan.regions)
    schools = [people.schools(r, n) for r, n in zip(regions, shares, strict=True)]
    pupils = [[p for s in rs for p in people.pupils(plan.seed, s, plan.season)] for rs in schools]
    with seeded_ids(plan.seed):
        started = perf_counter()
        await _identity(plan, var_dir, clock, schools, pupils, report)
        report.seconds["identity"], started = perf_counter() - started, perf_counter()
        await _consents(plan, var_dir, clock, pupils, report)
        report.seconds["consent"], started = perf_counter() - started, perf_counter()
        await _diagnostics(plan, var_dir, clock, pupils, report)
        report.seconds["diagnostics"], started = perf_counter() - started, perf_counter()
        await _career_events(plan, var_dir, clock, pupils, report)
        report.seconds["events"] = perf_counter() - started
    return report


async def _identity(
    plan: SeasonPlan,
    var_dir: Path | None,
    clock: SeasonClock,
    schools: list[list[people.SimSchool]],
    pupils: list[list[people.SimPupil]],
    report: SimulationReport,
) -> None:
    settings: IdentitySettings = _settings(IdentitySettings, var_dir)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        store = await open_event_store(settings)
        stack.push_async_callback(store.close)
        keystore = await open_key_store(settings)
        stack.push_async_callback(keystore.close)
        read_model = await open_read_model(settings)
        stack.push_async_callback(read_model.close)
        service = IdentityService(
            store,
            FieldCipher(keystore),
            EventStoreAuditLog(store),
            Pseudonymiser(await load_pseudonym_key(settings, store, keystore)),
            today=clock.today,
            consents=ConsentStates(read_model),
            age_band=GradeAgeBand(
                settings.identity_grade_age_years_younger, settings.identity_grade_age_years_older
            ),
        )
        operator = IdentityContext(_principal(Role.OPERATOR), "simulation")
        await service.publish_season_rules(
            operator,
            PublishSeasonRules(
                season=plan.season,
                lowest_grade=people.LOWEST_GRADE,
                highest_grade=people.HIGHEST_GRADE,
                max_career_events=3,
                diagnostics_stages=STAGES,
                starts_on=date(plan.season, 9, 1),
                ends_on=date(plan.season + 1, 5, 31),
            ),
        )
        for region_schools, region_pupils in zip(schools, pupils, strict=True):
            region = region_schools[0].region
            await service.admit_region(
                operator,
                region_code=region.code,
                name=region.name,
                season=plan.season,
                time_zone="Europe/Moscow",
                coordinator=f"Региональный оператор программы ({region.code})",
            )
            coordinator = IdentityContext(
                _principal(Role.COORDINATOR, region_id=str(region.region_id)), "simulation"
            )
            await service.schedule_diagnostics_window(
                coordinator,
                region.region_id,
                season=plan.season,
                stages=STAGES,
                opens_on=date(plan.season, 10, 1),
                closes_on=date(plan.season, 10, 31),
            )
            for school in region_schools:
                await service.register_school(
                    coordinator,
                    region.region_id,
                    name=school.name,
                    municipality=school.municipality,
                )
                report.schools += 1
            for sim in region_pupils:
                school_id = sim.school.school_id
                ctx = IdentityContext(
                    _principal(Role.REGISTRAR, school_id=str(school_id)), "simulation"
                )
                try:
                    await service.register_participant(
                        ctx, school_id, sim.pupil, sim.participant_id
                    )
                    report.pupils += 1
                except IdentityRefusal as refused:
                    report.refusal(f"identity.{refused.code}")


async def _consents(
    plan: SeasonPlan,
    var_dir: Path | None,
    clock: SeasonClock,
    pupils: list[list[people.SimPupil]],
    report: SimulationReport,
) -> None:
    clock.now = plan.calendar(9, 15)
    settings: ConsentSettings = _settings(ConsentSettings, var_dir)
    async with open_consent(settings, clock) as runtime:
        if runtime.feed is not None:
            await runtime.feed.catch_up({})
        service = runtime.service
        for region_pupils in pupils:
            for sim in region_pupils:
                rng = random.Random(f"bilet-sim-consent-{plan.seed}-{sim.participant_id}")  # noqa: S311
                analytics = rng.random() < ANALYTICS_SHARE
                guardian_id, guardian, relationship = people.guardian(plan.seed, sim.participant_id)
                form = SubmissionInput(
                    participant_id=sim.participant_id,
                    form_version=f"{plan.season}-1",
                    purposes=(
                        *PURPOSES,
                        *((Purpose.PSEUDONYMISED_ANALYTICS,) if analytics else ()),
                    ),
                    signed_on=clock.today() - timedelta(days=rng.randrange(1, 10)),
                    valid_until=date(plan.season + 2, 8, 31),
                    relationship=relationship,
                    guardian=guardian,
                    guardian_id=guardian_id,
                )
                school_id = str(sim.school.school_id)
                region_id = str(sim.school.region.region_id)
                try:
                    submitted = await service.submit_generated(
                        ConsentContext(
                            _principal(Role.REGISTRAR, school_id=school_id), "simulation"
                        ),
                        form,
                        generated_document(sim.participant_id),
                    )
                    await service.verify(
                        ConsentContext(
                            _principal(Role.COORDINATOR, region_id=region_id), "simulation"
                        ),
                        submitted.consent_id,
                    )
                except ConsentRefusal as refused:
                    report.refusal(f"consent.{refused.code}")
                    continue
                report.consents += 1
                report.analytics_consents += analytics


async def _diagnostics(
    plan: SeasonPlan,
    var_dir: Path | None,
    clock: SeasonClock,
    pupils: list[list[people.SimPupil]],
    report: SimulationReport,
) -> None:
    clock.now = plan.calendar(10, 1)
    settings: DiagnosticsSettings = _settings(DiagnosticsSettings, var_dir)
    async with open_diagnostics(settings, clock) as runtime:
        if runtime.feed is not None:
            await runtime.feed.catch_up({})
        service = runtime.service
        for region_pupils in pupils:
            for sim in region_pupils:
                rng = random.Random(f"bilet-sim-diagnostics-{plan.seed}-{sim.participant_id}")  # noqa: S311
                clock.now = plan.calendar(10, 1) + timedelta(
                    days=rng.randrange(28), minutes=rng.randrange(6 * 60)
                )
                ctx = DiagnosticsContext(
                    _principal(Role.PUPIL, participant_id=str(sim.participant_id)), "simulation"
                )
                # Each pupil leans to some options: a weight per option position.
                leaning = [rng.random() ** 2 + 0.05 for _ in range(16)]
                try:
                    for stage in STAGES:
                        attempt_id, _ = await service.start(ctx, sim.participant_id, stage)
                        view = await service.attempt_view(ctx, attempt_id)
                        answers = {
                            item.item_id: rng.choices(
                                [c.option_id for c in item.choices],
                                [leaning[n % 16] for n in range(len(item.choices))],
                            )[0]
                            for item in view.items
                        }
                        clock.now += (view.deadline - view.started_at) * rng.uniform(0.4, 0.9)
                        await service.save_answers(ctx, attempt_id, answers)
                        await service.complete(ctx, attempt_id)
                        clock.now += timedelta(minutes=rng.randrange(5, 60))
                        report.stages += 1
                except DiagnosticsRefusal as refused:
                    report.refusal(f"diagnostics.{refused.code}")


def _offers_for(
    plan: SeasonPlan, region: people.SimRegion, seats: int
) -> list[CareerEventPublished]:
    """The demo's six offers, published in the region as often as it takes to seat its pupils,
    in the weeks from 10 November; ids derived from the seed, the region and the edition."""
    out: list[CareerEventPublished] = []
    edition = 0
    while sum(s.capacity for e in out for s in e.sessions) < seats:
        for offer in OFFERS:
            first_day = date(plan.season, 11, 10) + timedelta(weeks=edition % 3)
            template = published(offer, plan.season, first_day, plan.season)
            ce_id = uuid.uuid5(
                people.namespace(plan.seed), f"career-event:{region.code}:{edition}:{offer.slug}"
            )
            municipality = f"{people.DISTRICT} 1"
            venue = template.venue
            out.append(
                template.model_copy(
                    update={
                        "career_event_id": ce_id,
                        "region_id": region.region_id,
                        "municipality": municipality,
                        "venue": venue and venue.model_copy(update={"municipality": municipality}),
                        "sessions": tuple(
                            s.model_copy(update={"session_id": uuid.uuid5(ce_id, f"session-{n}")})
                            for n, s in enumerate(template.sessions, start=1)
                        ),
                    }
                )
            )
        edition += 1
    return out


async def _career_events(
    plan: SeasonPlan,
    var_dir: Path | None,
    clock: SeasonClock,
    pupils: list[list[people.SimPupil]],
    report: SimulationReport,
) -> None:
    clock.now = plan.calendar(11, 1)
    settings: EventsSettings = _settings(EventsSettings, var_dir)
    async with open_events(settings, clock) as runtime:
        if runtime.feed is not None:
            await runtime.feed.catch_up({})
        service = runtime.service
        for region_pupils in pupils:
            if not region_pupils:
                continue
            clock.now = plan.calendar(11, 1)
            region = region_pupils[0].school.region
            events = _offers_for(plan, region, int(len(region_pupils) * SEATS_PER_PUPIL) + 1)
            for event in events:
                await service.publish(organiser(event.organiser_id), event)
                report.career_events += 1
            seats = await _book(plan, service, events, region_pupils, report)
            await _attend(service, clock, events, seats, report)


async def _book(
    plan: SeasonPlan,
    service: EventsService,
    events: list[CareerEventPublished],
    pupils: list[people.SimPupil],
    report: SimulationReport,
) -> dict[UUID, list[UUID]]:
    """Each pupil books one career event (three in ten two) of their grade, in a session with
    seats left; returns the bookings per session."""
    seats: dict[UUID, list[UUID]] = {s.session_id: [] for e in events for s in e.sessions}
    for sim in pupils:
        rng = random.Random(f"bilet-sim-events-{plan.seed}-{sim.participant_id}")  # noqa: S311
        wanted = 2 if rng.random() < 0.3 else 1
        taken: list[tuple[datetime, datetime]] = []  # a pupil is in one place at a time
        for event in rng.sample(events, len(events)):
            grades = event.eligible_grades
            if wanted == 0 or not grades.lowest <= sim.grade <= grades.highest:
                continue
            open_sessions = [
                s
                for s in event.sessions
                if len(seats[s.session_id]) < s.capacity
                and not any(s.starts_at < end and start < s.ends_at for start, end in taken)
            ]
            if not open_sessions:
                continue
            session = rng.choice(open_sessions)
            booking = booking_id(event.career_event_id, sim.participant_id)
            try:
                answer = await service.book(
                    registrar(sim.school.school_id),
                    event.career_event_id,
                    session.session_id,
                    sim.participant_id,
                    booking,
                )
            except EventsRefusal as refused:
                report.refusal(f"events.{refused.code}")
                continue
            if answer.booked:
                seats[session.session_id].append(booking)
                taken.append((session.starts_at, session.ends_at))
                report.bookings += 1
                wanted -= 1
    return seats


async def _attend(
    service: EventsService,
    clock: SeasonClock,
    events: list[CareerEventPublished],
    seats: dict[UUID, list[UUID]],
    report: SimulationReport,
) -> None:
    """After each session, in the order they end: who came (most), then the mentor's feedback."""
    sessions = sorted(
        ((s.ends_at, e, s.session_id) for e in events for s in e.sessions), key=lambda t: t[0]
    )
    for ends_at, event, session_id in sessions:
        bookings = seats[session_id]
        if not bookings:
            continue
        came = [b for b in bookings if random.Random(f"came-{b}").random() < 0.88]  # noqa: S311
        clock.now = ends_at
        records = [AttendanceRecord(b, b in came) for b in bookings]
        await service.record_attendance(
            organiser(event.organiser_id), event.career_event_id, session_id, records
        )
        report.attended += len(came)
        clock.now = ends_at + timedelta(hours=2)
        for booking in came:
            await service.give_feedback(
                mentor(event.mentors[0]), event.career_event_id, feedback(event, booking)
            )
            report.feedback += 1
