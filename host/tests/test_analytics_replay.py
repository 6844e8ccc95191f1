"""`bvb analytics replay` over the embedded demo: the portfolio read model as of a moment, in a
file of its own, holds what was recorded by then and nothing later, no readable personal data,
and leaves the live read model as it was; bad requests are refused and change nothing."""

import itertools
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bilet_host.cli import main
from bilet_host.testing import DemoWorld, found, personal_data_canaries, published_events


def replay(out: Path, until: str, *extra: str) -> int:
    return main(["analytics", "replay", "--until", until, "--out", str(out), *extra])


def recorded(world: DemoWorld, event_type: str) -> list[tuple[datetime, dict[str, str]]]:
    """When each demo event of a type was recorded, with its data, in order."""
    events = [
        (event.recorded_at, json.loads(event.data))
        for event in published_events(world.var_dir)
        if event.type == event_type
    ]
    return sorted(events, key=lambda pair: pair[0])


def consents_in(path: Path) -> dict[str, str | None]:
    """Each participant of a replayed portfolio read model, with their verified consent."""
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT participant_id, consent_id FROM participants").fetchall())


def live_files(world: DemoWorld) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in world.var_dir.glob("portfolio-readmodel.sqlite3*")
        if path.is_file()
    }


def test_a_replay_holds_what_was_recorded_by_then_and_leaves_the_live_model_alone(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    verified = recorded(demo_world, "ConsentVerified")
    # two verifications recorded at different moments (the fixture's analytics consents are
    # verified one by one), and a moment between them
    (first_at, first), (second_at, second) = next(
        (a, b) for a, b in itertools.pairwise(verified) if a[0] < b[0]
    )
    moment = first_at + (second_at - first_at) / 2
    live_before = live_files(demo_world)
    assert "portfolio-readmodel.sqlite3" in live_before
    out = tmp_path / "portfolio-then.sqlite3"

    assert replay(out, moment.isoformat()) == 0

    then = consents_in(out)
    assert then[first["participant_id"]] == first["consent_id"]
    assert then[second["participant_id"]] != second["consent_id"]
    assert live_files(demo_world) == live_before
    # before the first registration: nobody; as of now: every pupil, each with the latest consent
    registered = recorded(demo_world, "ParticipantRegistered")
    before = tmp_path / "portfolio-before.sqlite3"
    assert replay(before, (registered[0][0] - timedelta(seconds=1)).isoformat()) == 0
    assert consents_in(before) == {}
    now = tmp_path / "portfolio-now.sqlite3"
    assert replay(now, datetime.now(UTC).isoformat()) == 0
    now_consents = consents_in(now)
    assert set(now_consents) == {data["participant_id"] for _, data in registered}
    for pupil, (_, consent_id) in demo_world.consents.items():
        assert now_consents[str(pupil)] == str(consent_id)


def test_no_readable_personal_data_is_in_a_replayed_file(
    demo_world: DemoWorld, tmp_path: Path
) -> None:
    out = tmp_path / "portfolio.sqlite3"
    assert replay(out, "2999-01-01") == 0
    with sqlite3.connect(out) as db:
        (names,) = db.execute("SELECT count(full_name) FROM participants").fetchone()
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {
            table: json.dumps(db.execute(f'SELECT * FROM "{table}"').fetchall(), default=str)  # noqa: S608
            for table in tables
        }
    assert names > 0  # sealed envelopes are there, the scan must not find what they hide
    # The pupils' live ids are in it, as in the live read model (what a portfolio is keyed by).
    canaries = personal_data_canaries(live_ids=False)
    assert len(canaries) > 400
    texts = {"file": out.read_bytes(), **{t: r.encode() for t, r in rows.items()}}
    for name, content in texts.items():
        for canary in canaries:
            assert not found(canary, content), f"{canary!r} found in {name}"


@pytest.mark.parametrize(
    "until", ["yesterday", "2026-13-01", "0d"], ids=["words", "bad-date", "zero-duration"]
)
def test_a_bad_moment_is_refused(
    demo_world: DemoWorld, tmp_path: Path, until: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "replay.sqlite3"
    with pytest.raises(SystemExit) as exit_:
        replay(out, until)
    assert exit_.value.code == 2
    assert "argument --until" in capsys.readouterr().err
    assert not out.exists()


def test_an_existing_file_or_a_missing_directory_is_refused(
    demo_world: DemoWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken.sqlite3"
    taken.write_bytes(b"someone's data")
    assert replay(taken, "1d") == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert taken.read_bytes() == b"someone's data"

    assert replay(tmp_path, "1d") == 2  # a directory
    nowhere = tmp_path / "missing" / "replay.sqlite3"
    assert replay(nowhere, "1d") == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not nowhere.parent.exists()


def test_an_unknown_projection_is_refused(demo_world: DemoWorld, tmp_path: Path) -> None:
    out = tmp_path / "replay.sqlite3"
    with pytest.raises(SystemExit) as exit_:
        replay(out, "1d", "--projection", "bookings")
    assert exit_.value.code == 2
    assert not out.exists()
