"""`bvb analytics export --from stores` over the embedded demo: what it exports equals what the
stores hold for the population, no personal data reaches a file, purposes share no pseudonym,
runs continue where the last stopped, and a participant who leaves leaves the export."""

import asyncio
import json
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bilet.analytics import connect, load_manifest
from bilet.analytics.columns import table_name
from bilet.analytics.pseudonyms import Pseudonymiser, purpose_key_subject
from bilet.contracts import CATALOGUE, decode
from bilet.crypto import SqliteKeyStore, load_master_key
from bilet.http.auth import Principal, Role
from bilet_consent.application.inputs import CommandContext
from bilet_host.cli import main
from bilet_host.testing import (
    DemoWorld,
    consent_service,
    consent_to_analytics,
    found,
    personal_data_canaries,
    published_events,
    running_demo,
)
from bilet_identity import demo as identity_demo

PURPOSE = "season_research"


def export(out: Path, purpose: str = PURPOSE, *extra: str) -> int:
    return main(
        [
            "analytics",
            "export",
            "--from",
            "stores",
            "--purpose",
            purpose,
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


def counts_in_stores(world: DemoWorld, covered: Iterable[UUID]) -> dict[str, int]:
    """Rows each table must have, counted straight from the stores: every published event that
    is about no participant, and every one about a covered participant."""
    allowed = {str(participant) for participant in covered}
    counts: Counter[str] = Counter()
    for recorded in published_events(world.var_dir):
        decode(recorded)  # every published event must decode
        participant = json.loads(recorded.data).get("participant_id")
        if participant is None or participant in allowed:
            counts[table_name(recorded.type)] += 1
    return dict(counts)


def duckdb_counts(out: Path) -> dict[str, int]:
    connection = connect(out)
    try:
        counts = {}
        for event_type in CATALOGUE.event_types():
            name = table_name(event_type)
            (count,) = connection.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,)  # noqa: S608
            if count:
                counts[name] = count
        return counts
    finally:
        connection.close()


def pseudonyms(out: Path) -> set[str]:
    """Every pseudonym in the export: ids other than organisations' and the event keys."""
    found: set[str] = set()
    for path in out.rglob("*.parquet"):
        for column in pq.read_table(path).columns:
            _collect(column.type, column.to_pylist(), found)
    return {value for value in found if len(value) == 32 and value.isalnum()}


def _collect(kind: pa.DataType, values: list[object], found: set[str]) -> None:
    for value in values:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                _collect(kind, [item], found)
        elif isinstance(value, list):
            _collect(kind, value, found)


def files_and_bytes(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------- counts
def test_exported_counts_equal_the_stores_counts_for_the_population(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert export(out) == 0

    expected = counts_in_stores(demo_world, demo_world.covered)
    manifest = load_manifest(out)
    assert manifest is not None
    assert manifest.tables == dict(sorted(expected.items()))
    assert duckdb_counts(out) == expected
    assert expected["participant_registered"] == len(demo_world.covered)
    assert manifest.participants == len(demo_world.covered)
    all_pupils = sum(school.pupils for school in identity_demo.SCHOOLS)
    assert manifest.excluded_participants == all_pupils - len(demo_world.covered)
    # the demo as loaded: about every third guardian's consent covers analytics
    assert all_pupils // 4 < len(demo_world.covered) < all_pupils // 2
    # the cursor is where each store's last published event is
    assert set(manifest.cursor) >= {"identity", "consent"}


def test_only_participants_whose_consent_covers_analytics_are_exported(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert export(out) == 0
    connection = connect(out)
    # One row per participant and season (the demo enrols a pupil in today's season too).
    dimension = connection.execute(
        "SELECT count(DISTINCT participant_id), count(*) = count(DISTINCT (participant_id, season))"
        " FROM participants"
    ).fetchone()
    assert dimension == (len(demo_world.covered), True)
    # every participant of every table is in the dimension: nobody outside the population
    for event_type in CATALOGUE.event_types():
        if "participant_id" not in CATALOGUE.latest(event_type).model_fields:
            continue
        (strangers,) = connection.execute(
            f"SELECT count(*) FROM {table_name(event_type)} "  # noqa: S608
            "WHERE participant_id NOT IN (SELECT participant_id FROM participants)"
        ).fetchone() or (0,)
        assert strangers == 0, event_type
    by_school = dict(
        connection.execute(
            "SELECT school, count(DISTINCT participant_id) FROM participants GROUP BY school"
        ).fetchall()
    )
    assert sum(by_school.values()) == len(demo_world.covered)
    manifest = load_manifest(out)
    assert manifest is not None
    excluded = manifest.runs[-1].excluded_events
    # the demo's own consents of the others were read and left out, counted only
    assert excluded["consent_submitted"] > 0
    assert excluded["participant_registered"] == manifest.excluded_participants


# ------------------------------------------------------------------------------ personal data
def _readable_text(out: Path) -> dict[str, bytes]:
    """Every file's bytes, and, for Parquet files, every value decompressed and decoded; for
    the DuckDB file, every row of every view and table."""
    texts = files_and_bytes(out)
    for path in out.rglob("*.parquet"):
        table = pq.read_table(path)
        texts[f"{path.name} (values)"] = json.dumps(
            table.to_pylist(), default=str, ensure_ascii=False
        ).encode()
    connection = connect(out)
    try:
        names = [
            row[0]
            for row in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        ]
        names += [
            row[0]
            for row in connection.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        ]
        for name in names:
            rows = connection.execute(f'SELECT * FROM "{name}"').fetchall()  # noqa: S608
            texts[f"duckdb {name}"] = json.dumps(rows, default=str, ensure_ascii=False).encode()
    finally:
        connection.close()
    return texts


def test_no_personal_data_of_the_demo_is_in_any_exported_file(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert export(out) == 0
    canaries = personal_data_canaries()
    assert len(canaries) > 400
    texts = _readable_text(out)
    assert any(name.endswith("(values)") for name in texts)
    assert "analytics.duckdb" in texts
    for name, content in texts.items():
        for canary in canaries:
            assert not found(canary, content), f"{canary!r} found in {name}"
    # the scan finds what it looks for: canaries planted in values of a Parquet file
    planted = out / "tables" / "planted.parquet"
    samples = [canaries[0], next(c for c in canaries if c.isdigit())]
    pq.write_table(pa.table({"x": samples}), planted, compression="zstd")
    assert all(found(c, _readable_text(out)["planted.parquet (values)"]) for c in samples)


def test_two_purposes_share_no_pseudonym(demo_world: DemoWorld, tmp_path: Path) -> None:
    research, monitoring = tmp_path / "research", tmp_path / "monitoring"
    assert export(research, "research") == 0
    assert export(monitoring, "monitoring") == 0
    first, second = pseudonyms(research), pseudonyms(monitoring)
    assert len(first) > len(demo_world.covered)
    assert len(first) == len(second)
    assert not first & second


def test_a_directory_holds_one_purpose(
    demo_world: DemoWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    assert export(out, "research") == 0
    before = files_and_bytes(out)
    assert export(out, "monitoring") == 2
    assert "purpose 'research'" in capsys.readouterr().err
    assert files_and_bytes(out) == before
    assert export(out, "Not A Purpose!") == 2


# ------------------------------------------------------------------------------- incremental
def test_a_second_run_with_nothing_new_writes_nothing(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert export(out) == 0
    before = files_and_bytes(out)
    assert export(out) == 0
    assert files_and_bytes(out) == before


def test_a_later_run_adds_what_is_new_and_backfills_who_joined(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert export(out) == 0
    first = load_manifest(out)
    assert first is not None
    newcomer, school_id = next(
        (pupil, school)
        for school in identity_demo.SCHOOLS
        for pupil, _ in identity_demo.pupils(school)
        if pupil not in demo_world.covered
    )

    async def join() -> None:
        async with running_demo(demo_world.var_dir) as host:
            await consent_to_analytics(consent_service(host), newcomer, school_id.school_id)

    asyncio.run(join())
    assert export(out) == 0
    second = load_manifest(out)
    assert second is not None
    covered = demo_world.covered | {newcomer}
    assert second.tables == dict(sorted(counts_in_stores(demo_world, covered).items()))
    assert second.runs[-1].backfilled_participants == 1
    # registered long before the first run: written by the backfill
    assert second.tables["participant_registered"] == first.tables["participant_registered"] + 1
    assert second.cursor["consent"] > first.cursor["consent"]
    assert len(second.runs) == 2
    assert set(second.runs[0].files) <= second.files()


def test_an_interrupted_run_leaves_nothing_the_next_run_keeps(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert export(out) == 0
    # what a run killed between writing a file and committing the manifest leaves behind
    orphan = out / "tables" / "consent_verified" / "month=2019-10" / "part-killed-00000.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes((next(out.rglob("consent_verified/*/*.parquet"))).read_bytes())
    assert export(out) == 0
    assert not orphan.exists()
    assert duckdb_counts(out) == counts_in_stores(demo_world, demo_world.covered)


def test_small_chunks_commit_as_they_go_and_add_up(demo_world: DemoWorld, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert export(out, PURPOSE, "--chunk-events", "25") == 0
    manifest = load_manifest(out)
    assert manifest is not None
    assert len({name.rsplit("-", 1)[1] for name in manifest.files()}) > 3
    assert manifest.tables == dict(sorted(counts_in_stores(demo_world, demo_world.covered).items()))


# ---------------------------------------------------------------------------------- erasure
def test_after_withdrawal_and_erasure_a_new_run_no_longer_holds_the_participant(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert export(out) == 0
    leaving = sorted(demo_world.covered)[0]
    _, consent_id = demo_world.consents[leaving]

    async def pseudonym() -> str:
        keystore = SqliteKeyStore(
            demo_world.var_dir / "keys.sqlite3",
            load_master_key(None, demo_world.var_dir, development=True),
        )
        try:
            key = await keystore.get(purpose_key_subject(PURPOSE))
            assert key is not None
            return Pseudonymiser(PURPOSE, key.key)(leaving)
        finally:
            await keystore.close()

    hashed = asyncio.run(pseudonym())
    assert hashed in pseudonyms(out)

    async def withdraw_and_erase() -> None:
        async with running_demo(demo_world.var_dir) as host:
            service = consent_service(host)
            guardian = Principal(
                subject="test-guardian", role=Role.GUARDIAN, children=frozenset({str(leaving)})
            )
            await service.withdraw(CommandContext(guardian, "test"), consent_id, None, None)
            now = service.clock()
            service.clock = lambda: now + timedelta(days=31)
            assert await service.erase(leaving, "test-operator") is not None

    asyncio.run(withdraw_and_erase())
    assert export(out) == 0
    assert hashed not in pseudonyms(out)
    manifest = load_manifest(out)
    assert manifest is not None
    assert manifest.runs[-1].removed_participants == 1
    assert manifest.runs[-1].removed_rows > 0
    assert manifest.participants == len(demo_world.covered) - 1
    expected = counts_in_stores(demo_world, demo_world.covered - {leaving})
    assert manifest.tables == dict(sorted(expected.items()))
    assert duckdb_counts(out) == expected
