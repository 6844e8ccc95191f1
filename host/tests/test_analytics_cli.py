"""`bvb analytics export`'s refusals (exit 2, nothing written) and its progress bar."""

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from bilet_host.analytics_cli import BarProgress
from bilet_host.cli import main


@pytest.fixture
def empty_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("BVB_KAFKA_BOOTSTRAP", raising=False)
    return tmp_path / "var"


def export(*arguments: str) -> int:
    return main(["analytics", "export", "--quiet", *arguments])


def test_kafka_without_a_bootstrap_server_is_refused(
    empty_var: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert export("--from", "kafka", "--purpose", "research", "--out", str(out)) == 2
    assert "BVB_KAFKA_BOOTSTRAP" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "offsets", ['{"identity": -1}', '["identity"]', '{"identity": true}', "not json"]
)
def test_bad_start_offsets_are_refused(
    empty_var: Path, tmp_path: Path, offsets: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "offsets.json"
    path.write_text(offsets)
    out = tmp_path / "out"
    arguments = ["--from", "stores", "--purpose", "research", "--out", str(out)]
    assert export(*arguments, "--from-offsets", str(path)) == 2
    assert "bvb analytics export" in capsys.readouterr().err
    assert not out.exists()


def test_bad_purposes_and_times_are_refused(empty_var: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export("--from", "stores", "--purpose", "Research!", "--out", str(out)) == 2
    with pytest.raises(SystemExit) as refused:
        export("--from", "stores", "--purpose", "r", "--out", str(out), "--since", "yesterday")
    assert refused.value.code == 2
    later_first = ["--since", "2026-12-05", "--until", "2026-12-01"]
    assert export("--from", "stores", "--purpose", "r", "--out", str(out), *later_first) == 2
    assert not out.exists()


def test_a_store_that_never_ran_is_not_created(empty_var: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export("--from", "stores", "--purpose", "research", "--out", str(out)) == 0
    # only the key store (the purpose key): no empty store of a service that never ran
    assert {p.name for p in empty_var.glob("*.sqlite3")} <= {"keys.sqlite3"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tables"] == {}


def test_the_progress_bar_shows_the_rate_and_an_eta() -> None:
    screen = io.StringIO()
    progress = BarProgress(Console(file=screen, force_terminal=True, width=120))
    progress.begin("export", 1000)
    progress.advance(400)
    progress.stop()
    text = screen.getvalue()
    assert "400/1000" in text
    assert "ETA" in text
