"""`bvb simulate season`: a small season is accepted by every service's rules, booked within
capacity, the same for the same seed, and its analytics export has the counts of the stores and
none of the generated people's personal data."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from bilet.analytics import connect
from bilet.analytics.columns import table_name
from bilet.contracts import CATALOGUE, decode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import CareerEventPublished, SeatBooked
from bilet.contracts.catalogue.recommender import RecommendationsIssued as Issued
from bilet.eventstore import RecordedEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.http.auth import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_host import simulate, simulate_shards
from bilet_host import simulate_people as people
from bilet_host.cli import main
from bilet_host.simulate import SeasonPlan, SimulationReport, simulate_season
from bilet_host.simulate_cli import checkpoint
from bilet_host.testing import found, published_events
from bilet_identity.app import create_app
from bilet_identity.settings import IdentitySettings

PLAN = SeasonPlan(seed=7, regions=2, pupils=14, season=2026)
SETS_FOR_SEED_7 = 57  # RecommendationsIssued of PLAN's season, sources applied in season order


def simulated(var_dir: Path, plan: SeasonPlan = PLAN, processes: int = 2) -> SimulationReport:
    return asyncio.run(simulate_season(plan, var_dir, processes=processes))


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationReport]:
    var_dir = tmp_path_factory.mktemp("season") / "var"
    return var_dir, simulated(var_dir)


def test_every_service_accepts_the_season(season: tuple[Path, SimulationReport]) -> None:
    var_dir, report = season
    assert report.refused == {}
    assert report.pupils == report.consents == PLAN.pupils
    assert report.schools == PLAN.regions
    assert report.stages == 3 * PLAN.pupils
    assert report.bookings >= PLAN.pupils
    assert 0 < report.feedback == report.attended < report.bookings
    types = Counter(event.type for event in published_events(var_dir))
    assert types["ParticipantRegistered"] == PLAN.pupils
    assert types["ConsentVerified"] == PLAN.pupils
    assert types["StageCompleted"] == 3 * PLAN.pupils
    assert types["SeatBooked"] == report.bookings
    assert types["MentorFeedbackGiven"] == report.feedback
    # The recommender's feeds issued from the season's evidence: a set when a pupil's stages are
    # complete, a new one superseding it on later evidence (a career event attended). The feeds
    # catch up with the sources merged in the order they were recorded (the season's), so the
    # count is this seed's on every machine (it was 14 here and 57 on CI while sources raced).
    assert types["RecommendationsIssued"] == report.recommendations == SETS_FOR_SEED_7
    issued = [e for e in map(decode, published_events(var_dir)) if isinstance(e, Issued)]
    assert len({e.participant_id for e in issued}) == PLAN.pupils
    ids = {e.recommendation_set_id for e in issued}
    assert all(e.supersedes is None or e.supersedes in ids for e in issued)
    assert sum(e.supersedes is None for e in issued) == PLAN.pupils
    # Each phase's wall and CPU time (all threads) are reported, by service.
    phases = ["identity", "consent", "diagnostics", "events", "recommender"]
    assert list(report.seconds) == list(report.cpu_seconds) == phases
    assert all(cpu > 0 for cpu in report.cpu_seconds.values())


def test_bookings_stay_within_capacity(season: tuple[Path, SimulationReport]) -> None:
    events = [decode(e) for e in published_events(season[0])]
    capacity = {
        s.session_id: s.capacity
        for e in events
        if isinstance(e, CareerEventPublished)
        for s in e.sessions
    }
    taken = Counter(e.session_id for e in events if isinstance(e, SeatBooked))
    assert taken
    assert all(taken[session] <= capacity[session] for session in taken)


def _shape(events: list[RecordedEvent]) -> list[tuple[str, str, int, int]]:
    # positions too: the unit of work places every event where the same seed placed it before
    return [(e.stream_id, e.type, e.version, e.position) for e in events]


def test_the_same_seed_gives_the_same_season(
    season: tuple[Path, SimulationReport], tmp_path: Path
) -> None:
    again = tmp_path / "again"
    assert simulated(again) == season[1]
    first, second = published_events(season[0]), published_events(again)
    assert _shape(first) == _shape(second)
    # what no key seals is the same byte for byte (sealed fields: other keys, other nonces)
    assert [e.data for e in first if e.type == "StageCompleted"] == [
        e.data for e in second if e.type == "StageCompleted"
    ]
    other = tmp_path / "other"
    simulated(other, SeasonPlan(8, PLAN.regions, PLAN.pupils, PLAN.season))
    assert {e.stream_id for e in published_events(other)}.isdisjoint(
        e.stream_id for e in first if e.type == "ParticipantRegistered"
    )


async def _every_event(path: Path) -> list[RecordedEvent]:
    """Every event of a store, its internal ones included (answers, audit records)."""
    events: list[RecordedEvent] = []
    async with await SqliteEventStore.open(path) as store:
        position = 0
        while page := await store.read_all(position, 10_000):
            events += page
            position = page[-1].position
    return events


def _diagnostics_shape(var_dir: Path) -> list[tuple[str, str, int, int]]:
    events = asyncio.run(_every_event(var_dir / "diagnostics.sqlite3"))
    # the audit's stream is named by the day of the run, not of the season
    return [("audit" if s.startswith("audit-") else s, t, v, p) for s, t, v, p in _shape(events)]


def test_a_helper_process_writes_the_season_one_process_writes(
    season: tuple[Path, SimulationReport], tmp_path: Path
) -> None:
    """The fixture's season had half of its diagnostics decided by a forked helper (ADR 0094):
    one process alone writes the same events, at the same positions and versions."""
    var_dir, helped = season
    assert helped.helped == PLAN.pupils - PLAN.pupils // 2  # the helper did decide its half
    alone = tmp_path / "alone"
    report = simulated(alone, processes=1)
    assert report.helped == 0
    assert report == helped
    diagnostics = _diagnostics_shape(var_dir)
    assert {t for _, t, _, _ in diagnostics} >= {"AnswerRecorded", "PersonalDataAccessed"}
    assert diagnostics == _diagnostics_shape(alone)
    first, second = published_events(var_dir), published_events(alone)
    assert _shape(first) == _shape(second)
    # what no key seals is the same byte for byte (sealed fields: other keys, other nonces)
    unsealed = ("StageStarted", "StageCompleted")  # the attempts' seeded ids, the results
    assert [e.data for e in first if e.type in unsealed] == [
        e.data for e in second if e.type in unsealed
    ]


def test_a_helper_that_started_from_the_wrong_ids_is_not_used(
    season: tuple[Path, SimulationReport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the first half to draw other ids than the helper assumed, its half is decided in
    the season's process instead: still the one-process season."""
    monkeypatch.setattr(simulate, "DRAWS_PER_PUPIL", simulate_shards.DRAWS_PER_PUPIL + 1)
    wrong = tmp_path / "wrong"
    report = simulated(wrong)
    assert report.helped == 0
    assert report.helper_cpu_seconds > 0  # it did run, and was not used
    assert report == season[1]
    assert _diagnostics_shape(wrong) == _diagnostics_shape(season[0])


@pytest.mark.parametrize("trouble", ["fails", "dies", "hangs"])
def test_a_helper_that_fails_dies_or_hangs_leaves_the_season_one_process_writes(
    season: tuple[Path, SimulationReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    trouble: str,
) -> None:
    """A helper that raises, ends without an answer or never answers is killed and its half
    decided in the season's process: the season is still the one-process season."""

    async def troubled(*_: object) -> None:
        if trouble == "fails":
            raise LookupError("a bug in the helper's half")
        if trouble == "dies":
            os._exit(3)
        await asyncio.Event().wait()  # hangs: alive, silent

    monkeypatch.setattr(simulate, "_diagnostics_half", troubled)
    if trouble == "hangs":  # the seam: no deadline to wait out (the helper never answers)
        monkeypatch.setattr(simulate, "answer_deadline", lambda first_half_seconds: 0.0)
    var_dir = tmp_path / trouble
    report = simulated(var_dir)
    assert report.helped == 0
    assert report == season[1]
    assert _diagnostics_shape(var_dir) == _diagnostics_shape(season[0])
    assert "is not used, its half is decided in the season's process" in caplog.text


def test_a_season_that_fails_in_its_own_half_raises_its_error_and_kills_the_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception in the season's half is the season's error, raised at once: the helper,
    stuck here, is killed, not waited for."""
    helpers: list[simulate_shards.Helper] = []
    forked = simulate_shards.helper
    first_half = simulate._pupil_stages

    @contextlib.asynccontextmanager
    async def watched(*args: Any) -> AsyncIterator[simulate_shards.Helper | None]:
        async with forked(*args) as second_half:
            if second_half is not None:
                helpers.append(second_half)
            yield second_half

    async def stuck(*_: object) -> None:
        await asyncio.Event().wait()

    raised: list[float] = []

    async def failing(season: Any, service: Any, sim: Any) -> None:
        if helpers:  # the diagnostics phase, in the season's process
            raised.append(time.monotonic())
            raise LookupError("a bug in the season's half")
        await first_half(season, service, sim)

    monkeypatch.setattr(simulate, "helper", watched)
    monkeypatch.setattr(simulate, "_diagnostics_half", stuck)
    monkeypatch.setattr(simulate, "_pupil_stages", failing)
    with pytest.raises(LookupError, match="a bug in the season's half"):
        simulated(tmp_path / "failing")
    ended = time.monotonic()
    (helped,) = helpers
    assert helped.process.exitcode == -signal.SIGKILL
    # A generous bound for closing the phase: the stuck helper was waited for 30 s before.
    assert ended - raised[0] < 20


def _covered(events: list[RecordedEvent]) -> set[str]:
    return {
        json.loads(e.data)["participant_id"]
        for e in events
        if e.type == "ConsentVerified"
        and Purpose.PSEUDONYMISED_ANALYTICS.value in json.loads(e.data)["purposes"]
    }


def _canaries() -> list[str]:
    values: list[str] = []
    for region, share in zip(
        people.regions(PLAN.regions), people.region_shares(PLAN.pupils, PLAN.regions), strict=True
    ):
        for school in people.schools(region, share):
            for sim in people.pupils(PLAN.seed, school, PLAN.season):
                pupil, birth = sim.pupil, sim.pupil.birth_date
                _, guardian, _ = people.guardian(PLAN.seed, sim.participant_id)
                values += [pupil.last_name, pupil.first_name, pupil.snils, str(sim.participant_id)]
                values += [pupil.snils.replace("-", "").replace(" ", ""), birth.isoformat()]
                values += [birth.strftime("%d.%m.%Y"), guardian.name.last_name]
                values += [guardian.passport.number, guardian.contact.phone or ""]
    return sorted({value for value in values if len(value) >= 5})


def test_its_export_has_the_stores_counts_and_no_personal_data(
    season: tuple[Path, SimulationReport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var_dir, report = season
    monkeypatch.setenv("BVB_VAR_DIR", str(var_dir))
    out = tmp_path / "export"
    command = ["analytics", "export", "--from", "stores", "--purpose", "sim", "--quiet"]
    assert main([*command, "--out", str(out)]) == 0
    events = published_events(var_dir)
    covered = _covered(events)
    assert len(covered) == report.analytics_consents > 0
    expected: Counter[str] = Counter()
    for event in events:
        participant = json.loads(event.data).get("participant_id")
        if participant is None or participant in covered:
            expected[table_name(event.type)] += 1
    connection = connect(out)
    try:
        exported = {
            name: count
            for name in map(table_name, CATALOGUE.event_types())
            if (count := connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0])  # type: ignore[index]  # noqa: S608
        }
    finally:
        connection.close()
    assert exported == dict(expected)
    assert exported[table_name("StageCompleted")] == 3 * len(covered)
    canaries = _canaries()
    assert len(canaries) > 5 * PLAN.pupils
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        content = path.read_bytes()
        if path.suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
            content += json.dumps(rows, default=str, ensure_ascii=False).encode()
        leaked = [canary for canary in canaries if found(canary, content)]
        assert not leaked, f"{leaked} found in {path.name}"
    # the scan finds what it looks for
    planted = json.dumps([canaries[0], canaries[-1]], ensure_ascii=False).encode()
    assert found(canaries[0], planted)
    assert found(canaries[-1], planted)


async def test_the_identity_api_serves_the_simulated_pupils(
    season: tuple[Path, SimulationReport], tmp_path: Path
) -> None:
    """The stores the unit of work wrote are the service's own: identity's API, opened on (a
    copy of) them, lists every school's simulated pupils with their names unsealed."""
    var_dir = tmp_path / "var"
    shutil.copytree(season[0], var_dir)
    settings = IdentitySettings(var_dir=var_dir)
    signer = ensure_development_keys(var_dir)
    app = create_app(settings)
    async with (
        app_lifespan(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://identity"
        ) as client,
    ):
        for region, share in zip(
            people.regions(PLAN.regions),
            people.region_shares(PLAN.pupils, PLAN.regions),
            strict=True,
        ):
            for school in people.schools(region, share):
                sims = people.pupils(PLAN.seed, school, PLAN.season)
                token = signer.mint(Role.REGISTRAR, school=str(school.school_id))
                response = await client.get(
                    f"/identity/v1/schools/{school.school_id}/pupils",
                    headers={"Authorization": f"Bearer {token}"},
                    params={"limit": 200},
                )
                assert response.status_code == 200, response.text
                shown = {
                    (p["participant_id"], p["last_name"], p["first_name"])
                    for p in response.json()["pupils"]
                }
                assert shown == {
                    (str(sim.participant_id), sim.pupil.last_name, sim.pupil.first_name)
                    for sim in sims
                }


def test_bad_sizes_are_refused_and_write_nothing(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    for regions, pupils in (("0", "10"), ("90", "100"), ("3", "2")):
        args = ["--regions", regions, "--pupils", pupils, "--var-dir", str(var_dir)]
        assert main(["simulate", "season", *args]) == 2
    assert not var_dir.exists()


def test_a_season_goes_into_empty_stores_only(season: tuple[Path, SimulationReport]) -> None:
    var_dir = season[0]
    before = published_events(var_dir)
    args = ["--regions", "1", "--pupils", "3", "--var-dir", str(var_dir)]
    assert main(["simulate", "season", *args]) == 2
    assert published_events(var_dir) == before


def test_a_load_with_sync_normal_writes_the_same_kind_of_season(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    var_dir = tmp_path / "var"
    args = ["--regions", "1", "--pupils", "3", "--sync", "normal", "--var-dir", str(var_dir)]
    # the helper pinned, not left to how busy the machine is: one path on every run
    assert main(["simulate", "season", *args, "--processes", "2"]) == 0
    summary = capsys.readouterr().out
    assert summary.count("events per CPU-second") == 5  # a line per service's phase
    types = Counter(event.type for event in published_events(var_dir))
    assert types["ParticipantRegistered"] == types["ConsentVerified"] == 3
    assert types["StageCompleted"] == 9


def test_the_final_checkpoint_empties_the_write_ahead_logs(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    holder = sqlite3.connect(path)  # held open, as a live reader would: its close checkpoints
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("PRAGMA wal_autocheckpoint=0")
        holder.execute("CREATE TABLE t (n INTEGER)")
        holder.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(1000)])
        holder.commit()
        wal = path.with_name("store.sqlite3-wal")
        assert wal.stat().st_size > 0
        checkpoint(tmp_path)
        assert wal.stat().st_size == 0
        assert holder.execute("SELECT count(*) FROM t").fetchone() == (1000,)
    finally:
        holder.close()
