"""`bvb simulate season`: a synthetic national season written into the services' own stores
through their own use cases (docs/adr/0045).

Identity admits the regions, registers schools and pupils (valid СНИЛС, birth dates that fit
the grade); consent takes a guardian's signed form per pupil and the coordinator verifies it;
diagnostics has every pupil start, answer and complete the season's three stages in the
region's window; career events are published per region, booked within their capacity,
attended and given mentors' feedback. Every step is the service's use case, so every rule
applies: what a rule refuses is counted, never forced in. Each service reads the others'
facts through its own embedded feed, caught up between the phases. Each service's own store is
a unit of work for its phase (`bilet_host.simulate_store`, docs/adr/0069): the use cases read
their writes from memory, and the store receives them 20,000 events a transaction.

With a core to spare, a forked helper process decides half of the pupils' diagnostics and the
season's process appends its events after its own half: the season one process would write
(`bilet_host.simulate_shards`, docs/adr/0094).

Reproducible: the people and every choice come from the seed, the services' clocks are moved
through the season's calendar, and the few ids the services' use cases draw themselves (a
consent's, an attempt's) come from their `Ids` port, given a generator seeded with it.
"""

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from time import perf_counter, process_time
from typing import Literal, cast

from bilet.audit import EventStoreAuditLog
from bilet.contracts import health_key_subject
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.vocabulary import Stage
from bilet.crypto import FieldCipher
from bilet.eventstore import WrongExpectedVersion
from bilet.http.auth import Role
from bilet.projections.collector import CollectorSettings, restore_collector, tune_collector
from bilet_consent.adapters.stores import open_event_store as open_consent_store
from bilet_consent.application.inputs import CommandContext as ConsentContext
from bilet_consent.application.inputs import SubmissionInput
from bilet_consent.application.service import ConsentService
from bilet_consent.demo import generated_document
from bilet_consent.domain.errors import DomainError as ConsentRefusal
from bilet_consent.runtime import open_runtime as open_consent
from bilet_consent.settings import ConsentSettings
from bilet_diagnostics.adapters.instruments import load_instruments
from bilet_diagnostics.adapters.stores import open_event_store as open_diagnostics_store
from bilet_diagnostics.application.inputs import CommandContext as DiagnosticsContext
from bilet_diagnostics.application.ports import Instruments
from bilet_diagnostics.application.service import DiagnosticsService
from bilet_diagnostics.domain.errors import DomainError as DiagnosticsRefusal
from bilet_diagnostics.runtime import open_runtime as open_diagnostics
from bilet_diagnostics.settings import DiagnosticsSettings
from bilet_host import simulate_people as people
from bilet_host.simulate_events import career_events
from bilet_host.simulate_run import (
    CountedIds,
    Season,
    SeasonPlan,
    SimulationReport,
    caught_up,
    principal,
)
from bilet_host.simulate_shards import (
    DRAWS_PER_PUPIL,
    SPARE_CORE,
    Decided,
    Half,
    Helper,
    answer_deadline,
    cores,
    cpu_times,
    helper,
    replay,
    spare_cores,
)
from bilet_host.simulate_store import UnitOfWorkStore, unit_of_work
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
from bilet_recommender.adapters.stores import open_event_store as open_recommender_store
from bilet_recommender.runtime import open_runtime as open_recommender
from bilet_recommender.settings import RecommenderSettings

__all__ = ["SeasonPlan", "SimulationReport", "simulate_season"]

STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
PURPOSES = (
    Purpose.PROGRAMME_PARTICIPATION,
    Purpose.ONLINE_DIAGNOSTICS,
    Purpose.CAREER_EVENTS,
    Purpose.PORTFOLIO,
    Purpose.RECOMMENDATIONS,
)
ANALYTICS_SHARE = 0.7  # of the guardians also consent to pseudonymised analytics
# Pupils whose keys are made in one key-store transaction: two keys each, well inside the
# cipher's cache (1,024 keys), so none is evicted before its registration uses it.
KEYS_AHEAD = 256
SEASON_GC_YOUNG = 100_000  # the collector's young threshold during a load (docs/adr/0094)

_log = logging.getLogger(__name__)


async def simulate_season(
    plan: SeasonPlan,
    var_dir: Path | None,
    *,
    synchronous: Literal["FULL", "NORMAL"] | None = None,
    processes: int | None = None,
) -> SimulationReport:
    """Write the season into the stores of `var_dir` (or as the services' settings say), SQLite
    stores committing with `synchronous` (None: as the settings say). With `processes` 2 a
    forked helper decides half of the diagnostics phase (docs/adr/0094): the same season as one
    process writes; None: 2 when the machine has a core to spare (`_helped`), else 1."""
    season = Season.of(plan, var_dir, synchronous)
    season.processes = processes
    season.cpu_at_start = cpu_times()
    # The load keeps many objects alive (the unit of work's streams, a phase's pending events):
    # at the interpreter's thresholds the collector traversed them again and again, some 10-13 %
    # of the season's CPU (docs/adr/0094). Nothing it builds needs the collector to be freed
    # soon: young collections every SEASON_GC_YOUNG objects, what exists before frozen (also
    # sparing a forked helper the copy of pages a collection would touch); restored after.
    collector = tune_collector(CollectorSettings(young=SEASON_GC_YOUNG, freeze=True))
    try:
        for name, phase in (
            ("identity", _identity),
            ("consent", _consents),
            ("diagnostics", _diagnostics),
            ("events", career_events),
            ("recommender", _recommendations),
        ):
            started, cpu = perf_counter(), process_time()
            helper_cpu = await phase(season) or 0.0
            season.report.seconds[name] = perf_counter() - started
            # the helper's CPU too (all of it: it was forked for this phase)
            season.report.cpu_seconds[name] = process_time() - cpu + helper_cpu
            season.report.helper_cpu_seconds += helper_cpu
    finally:
        restore_collector(collector)
    return season.report


@contextlib.asynccontextmanager
async def _identity_service(season: Season) -> AsyncIterator[IdentityService]:
    """Identity's service as its `app.py` builds it (identity has no runtime module)."""
    settings: IdentitySettings = season.settings(IdentitySettings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(unit_of_work(open_event_store(settings)))
        keystore = await open_key_store(settings)
        stack.push_async_callback(keystore.close)
        read_model = await open_read_model(settings)
        stack.push_async_callback(read_model.close)
        yield IdentityService(
            store,
            FieldCipher(keystore),
            EventStoreAuditLog(store),
            Pseudonymiser(await load_pseudonym_key(settings, store, keystore)),
            today=season.clock.today,
            consents=ConsentStates(read_model),
            age_band=GradeAgeBand(
                settings.identity_grade_age_years_younger, settings.identity_grade_age_years_older
            ),
        )


async def _identity(season: Season) -> None:
    """The rules, each region with its October window, its schools and its pupils."""
    plan, report = season.plan, season.report
    async with _identity_service(season) as service:
        operator = IdentityContext(principal(Role.OPERATOR), "simulation")
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
        for region_schools in season.schools:
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
                principal(Role.COORDINATOR, region_id=str(region.region_id)), "simulation"
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
        everyone = list(season.everyone())
        for start in range(0, len(everyone), KEYS_AHEAD):
            chunk = everyone[start : start + KEYS_AHEAD]
            # The pupils' keys (participant and health) made ahead, one key-store transaction a
            # chunk, as identity's class-list import makes them (docs/adr/0077): registering a
            # named id would otherwise create its keys in a transaction (and a sync) of its own.
            await service.cipher.prepare(
                [
                    subject
                    for sim in chunk
                    for subject in (str(sim.participant_id), health_key_subject(sim.participant_id))
                ]
            )
            for sim in chunk:
                school_id = sim.school.school_id
                ctx = IdentityContext(
                    principal(Role.REGISTRAR, school_id=str(school_id)), "simulation"
                )
                try:
                    await service.register_participant(
                        ctx, school_id, sim.pupil, sim.participant_id
                    )
                    report.pupils += 1
                except IdentityRefusal as refused:
                    report.refusal(f"identity.{refused.code}")


async def _consents(season: Season) -> None:
    """Mid-September: each guardian's form, uploaded by the school, verified by the region."""
    season.clock.now = season.plan.calendar(9, 15)
    settings: ConsentSettings = season.settings(ConsentSettings)
    async with (
        unit_of_work(open_consent_store(settings)) as store,
        caught_up(open_consent(settings, season.clock, ids=season.ids, store=store)) as runtime,
    ):
        for sim in season.everyone():
            try:
                analytics = await _consent(season, runtime.service, sim)
            except ConsentRefusal as refused:
                season.report.refusal(f"consent.{refused.code}")
                continue
            season.report.consents += 1
            season.report.analytics_consents += analytics


async def _consent(season: Season, service: ConsentService, sim: people.SimPupil) -> bool:
    """Submit and verify the pupil's consent; whether it covers analytics."""
    rng = season.rng("consent", sim)
    analytics = rng.random() < ANALYTICS_SHARE
    guardian_id, guardian, relationship = people.guardian(season.plan.seed, sim.participant_id)
    form = SubmissionInput(
        participant_id=sim.participant_id,
        form_version=f"{season.plan.season}-1",
        purposes=(*PURPOSES, *((Purpose.PSEUDONYMISED_ANALYTICS,) if analytics else ())),
        signed_on=season.clock.today() - timedelta(days=rng.randrange(1, 10)),
        valid_until=date(season.plan.season + 2, 8, 31),
        relationship=relationship,
        guardian=guardian,
        guardian_id=guardian_id,
    )
    school = principal(Role.REGISTRAR, school_id=str(sim.school.school_id))
    region = principal(Role.COORDINATOR, region_id=str(sim.school.region.region_id))
    submitted = await service.submit_generated(
        ConsentContext(school, "simulation"), form, generated_document(sim.participant_id)
    )
    await service.verify(ConsentContext(region, "simulation"), submitted.consent_id)
    return analytics


async def _diagnostics(season: Season) -> float:
    """October: every pupil takes the three stages on a day of the window. With two processes
    the second half of the pupils is decided by a helper process (docs/adr/0094) and appended
    here after the first; returns the helper's CPU seconds."""
    season.clock.now = season.plan.calendar(10, 1)
    settings: DiagnosticsSettings = season.settings(DiagnosticsSettings)
    instruments = load_instruments()  # loaded once, the helper's too
    # SQLite's store: the phase's store is then a unit of work (`unit_of_work`).
    halves = _helped(season) and season.plan.pupils > 1 and settings.event_store == "sqlite"
    # Forked before the phase opens a store or a thread (none of the season's is open now).
    decide = functools.partial(_diagnostics_half, season, instruments)
    async with (
        helper(decide, halves) as second_half,
        unit_of_work(open_diagnostics_store(settings)) as store,
        caught_up(
            open_diagnostics(
                settings, season.clock, ids=season.ids, store=store, instruments=instruments
            )
        ) as runtime,
    ):
        pupils = list(season.everyone())
        if second_half is None:
            for sim in pupils:
                await _pupil_stages(season, runtime.service, sim)
            return 0.0
        work = cast(UnitOfWorkStore, store)  # a helper is forked for SQLite's store only
        return await _halved(season, runtime.service, work, pupils, second_half)


def _helped(season: Season) -> bool:
    """Whether the diagnostics phase forks a helper: as told, else when at least `SPARE_CORE`
    of a core stood idle through the phases so far (on a machine busy with other work the
    helper measured slower by the clock than one process: docs/adr/0094)."""
    if season.processes is not None:
        return season.processes > 1
    count = cores()
    return count > 1 and spare_cores(season.cpu_at_start, cpu_times(), count) >= SPARE_CORE


async def _halved(
    season: Season,
    service: DiagnosticsService,
    store: UnitOfWorkStore,
    pupils: list[people.SimPupil],
    helper: Helper,
) -> float:
    """The first half of the pupils decided here while the helper decides the second, whose
    appends then follow the first half's; returns the helper's CPU seconds. When the helper's
    half cannot be used as it is (no answer, ids or streams other than it assumed), that half
    is decided here too: the season is still the one a single process writes."""
    split = len(pupils) // 2
    expected = season.ids.drawn + DRAWS_PER_PUPIL * split
    started = perf_counter()
    helper.send(Half(split, expected))  # the facts read model is caught up: the helper reads it
    for sim in pupils[:split]:
        await _pupil_stages(season, service, sim)
    await store.flush()  # the first half written while the helper decides the second
    done = await helper.done(answer_deadline(perf_counter() - started))
    if done is not None and season.ids.drawn != expected:
        _log.warning(
            "the season's diagnostics helper started from the wrong ids (%s drawn, %s assumed): "
            "its half is decided in the season's process",
            season.ids.drawn,
            expected,
        )
        done = None
    if done is not None:
        try:
            await replay(store, done.appends)
        except WrongExpectedVersion as conflict:  # nothing of it appended
            _log.warning(
                "the season's diagnostics helper wrote a stream the first half wrote too (%s): "
                "its half is decided in the season's process",
                conflict,
            )
            done = None
    if done is None:
        for sim in pupils[split:]:
            await _pupil_stages(season, service, sim)
        return helper.cpu_seconds
    decided = done.decided
    season.ids.skip(sum(decided.draws))
    season.clock.now = decided.clock
    season.report.stages += decided.stages
    season.report.helped = len(decided.draws)
    for code, count in decided.refused.items():
        season.report.refusal(code, count)
    return helper.cpu_seconds  # also `done`'s: the helper's CPU is taken from it


async def _diagnostics_half(
    season: Season, instruments: Instruments, half: Half, store: UnitOfWorkStore
) -> Decided:
    """The helper's half of the diagnostics phase, in the forked process (its `season` is the
    season as it was forked): pupils from `half.start` on, through a service of its own on
    `store`, with the season's ids where the first half leaves them."""
    season.clock.now = season.plan.calendar(10, 1)
    season.report = SimulationReport()
    season.ids = CountedIds(season.plan.seed, half.skip)
    settings: DiagnosticsSettings = season.settings(DiagnosticsSettings)
    draws: list[int] = []
    # The read model is the one the season's process caught up: read here, not fed.
    async with open_diagnostics(
        settings, season.clock, ids=season.ids, store=store, instruments=instruments
    ) as runtime:
        for sim in list(season.everyone())[half.start :]:
            before = season.ids.drawn
            await _pupil_stages(season, runtime.service, sim)
            draws.append(season.ids.drawn - before)
    return Decided(draws, season.report.stages, season.report.refused, season.clock.now)


async def _pupil_stages(season: Season, service: DiagnosticsService, sim: people.SimPupil) -> None:
    try:
        await _stages(season, service, sim)
    except DiagnosticsRefusal as refused:
        season.report.refusal(f"diagnostics.{refused.code}")


async def _stages(season: Season, service: DiagnosticsService, sim: people.SimPupil) -> None:
    rng, clock = season.rng("diagnostics", sim), season.clock
    clock.now = season.plan.calendar(10, 1) + timedelta(
        days=rng.randrange(28), minutes=rng.randrange(6 * 60)
    )
    ctx = DiagnosticsContext(
        principal(Role.PUPIL, participant_id=str(sim.participant_id)), "simulation"
    )
    # Each pupil leans to some options: a weight per option position, the same in every item.
    leaning = [rng.random() ** 2 + 0.05 for _ in range(16)]  # 16 positions, then again
    # The weights' running sums per number of options, made once: `choices` would add the same
    # weights up again for every item (the draws are the same: one `random()` an item).
    cumulative: dict[int, list[float]] = {}
    for stage in STAGES:
        attempt_id, _ = await service.start(ctx, sim.participant_id, stage)
        view = await service.attempt_view(ctx, attempt_id)
        answers = {}
        for item in view.items:
            count = len(item.choices)
            sums = cumulative.get(count)
            if sums is None:
                sums = cumulative[count] = list(accumulate(leaning[i % 16] for i in range(count)))
            options = [c.option_id for c in item.choices]
            answers[item.item_id] = rng.choices(options, cum_weights=sums)[0]
        clock.now += (view.deadline - view.started_at) * rng.uniform(0.4, 0.9)  # in time
        await service.save_answers(ctx, attempt_id, answers)
        await service.complete(ctx, attempt_id)
        clock.now += timedelta(minutes=rng.randrange(5, 60))
        season.report.stages += 1


async def _recommendations(season: Season) -> None:
    """December: the recommender's own feeds catch up with the season (the evidence of every
    pupil, and what it issues from it: `RecommendationsIssued`), as its embedded host would."""
    season.clock.now = season.plan.calendar(12, 1)
    settings: RecommenderSettings = season.settings(RecommenderSettings)
    async with (
        unit_of_work(open_recommender_store(settings)) as store,
        open_recommender(settings, season.clock, store=store) as runtime,
    ):
        for feed in runtime.feeds:
            await feed.catch_up({})
        position = 0
        while page := await runtime.store.read_all(position, 10_000):
            season.report.recommendations += sum(e.type == "RecommendationsIssued" for e in page)
            position = page[-1].position
