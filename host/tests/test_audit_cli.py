"""`bvb audit who-read` through the real entry point, on a temporary embedded `var/`: the trails of
the services that ran, a table or JSON lines with a count, exit code 2 on bad input."""

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bilet.audit import Access, AuditRecord, EventStoreAuditLog
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_host.cli import main

NOW = datetime.now(UTC)


def access(hours_ago: float, actor: str, subject: str, kind: Access = Access.READ) -> AuditRecord:
    return AuditRecord(
        actor=actor,
        actor_role="navigator",
        access=kind,
        subject=subject,
        purpose="portfolio_view",
        fields=("full_name",),
        correlation_id=f"c-{hours_ago}",
        at=NOW - timedelta(hours=hours_ago),
    )


async def write_trail(var: Path, service: str, *records: AuditRecord) -> None:
    async with await SqliteEventStore.open(var / f"{service}.sqlite3") as store:
        await EventStoreAuditLog(store).record(*records)


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Identity and portfolio ran here; consent never did."""
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path))
    for name in ("BVB_EVENT_STORE", "BVB_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    trails = {
        "identity": [
            access(30, "account-1", "pupil-1"),
            access(3, "account-1", "pupil-2"),
            access(2, "account-1", "pupil-2", Access.WRITE),
        ],
        "portfolio": [access(1, "account-1", "pupil-1"), access(1, "account-2", "pupil-1")],
    }
    for service, records in trails.items():
        asyncio.run(write_trail(tmp_path, service, *records))
    return tmp_path


def test_who_read_by_an_account_prints_its_reads_of_the_last_day_as_json_lines(
    var: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "who-read", "--actor", "account-1", "--json"]) == 0

    out, err = capsys.readouterr()
    *lines, summary = [json.loads(line) for line in out.splitlines()]
    assert [(line["service"], line["subject"], line["access"]) for line in lines] == [
        ("identity", "pupil-2", "read"),
        ("portfolio", "pupil-1", "read"),
    ]
    assert lines[0] == {
        "at": (NOW - timedelta(hours=3)).isoformat(),
        "service": "identity",
        "actor": "account-1",
        "actor_role": "navigator",
        "access": "read",
        "subject": "pupil-2",
        "purpose": "portfolio_view",
        "fields": ["full_name"],
        "correlation_id": "c-3",
    }
    assert summary["count"] == 2
    assert summary["services"] == ["identity", "portfolio"]
    assert "no audit trail of consent" in err
    assert not (var / "consent.sqlite3").exists()  # only read: nothing created


def test_who_read_of_a_child_over_a_week_prints_a_table_and_a_count(
    var: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["audit", "who-read", "--subject", "pupil-1", "--since", "7d"]
    assert main([*arguments, "--access", "read", "--access", "write"]) == 0

    header, *rows, count = capsys.readouterr().out.splitlines()
    columns = "at service actor actor_role access subject purpose fields correlation_id"
    assert header.split() == columns.split()
    assert [row.split()[1:3] for row in rows] == [
        ["identity", "account-1"],
        ["portfolio", "account-1"],
        ["portfolio", "account-2"],
    ]
    assert count.startswith("3 record(s) of participant pupil-1 from ")


def test_an_iso_window_with_an_offset_bounds_the_answer(
    var: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moscow = NOW.astimezone(timezone(timedelta(hours=3)))
    since = (moscow - timedelta(hours=4)).isoformat()
    until = (moscow - timedelta(hours=2)).isoformat()
    arguments = ["--actor", "account-1", "--since", since, "--until", until, "--json"]
    assert main(["audit", "who-read", *arguments]) == 0

    *lines, summary = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["correlation_id"] for line in lines] == ["c-3"]
    assert json.loads(summary)["count"] == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--actor", "a", "--since", "yesterday"], "expected a duration"),
        (["--actor", "a", "--since", "0h"], "more than zero"),
        (["--actor", "a", "--subject", "p"], "not allowed with argument"),
        (["--since", "24h"], "one of the arguments --actor --subject is required"),
        (["--actor", "a", "--access", "peek"], "invalid choice"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_exit_code_2(
    var: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "who-read", *arguments])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("settings", "code", "message"),
    [
        ({"BVB_EVENT_STORE": "postgres"}, 2, "needs BVB_DATABASE_URL"),
        ({"BVB_EVENT_STORE": "oracle"}, 2, "settings are not usable"),
        (
            {"BVB_EVENT_STORE": "postgres", "BVB_DATABASE_URL": "postgresql://bvb@127.0.0.1:1/bvb"},
            1,
            "cannot open the store of identity",
        ),
    ],
)
def test_settings_that_reach_no_store_are_said_and_nothing_is_printed(
    var: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, str],
    code: int,
    message: str,
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)

    assert main(["audit", "who-read", "--actor", "account-1"]) == code

    out, err = capsys.readouterr()
    assert out == ""
    assert message in err


def test_an_until_before_since_is_refused_in_a_process_of_its_own(var: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bilet_host.cli",  # what the `bvb` script runs
            "audit",
            "who-read",
            "--actor",
            "account-1",
            "--since",
            "2026-12-05",
            "--until",
            "2026-12-01",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--until must be after --since" in result.stderr
    assert result.stdout == ""
