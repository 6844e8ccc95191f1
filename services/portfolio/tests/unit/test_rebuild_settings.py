"""`bvb portfolio rebuild` with a bad `BVB_*` setting: one line and exit code 2, before anything
is opened (ADR 0114: the collector's settings were read with the read model already open)."""

import gc
import io

import pytest

from bilet_portfolio import cli
from bilet_portfolio.settings import PortfolioSettings


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[PortfolioSettings]:
    """The read models the command opened: none may be, so opening one fails the test."""
    calls: list[PortfolioSettings] = []

    async def open_read_model(settings: PortfolioSettings) -> None:
        calls.append(settings)
        raise AssertionError("the read model was opened")

    monkeypatch.setattr(cli, "open_read_model", open_read_model)
    return calls


@pytest.mark.parametrize(
    ("variable", "value"),
    [("BVB_PROJECTION_GC_YOUNG", "-1"), ("BVB_PROJECTION_GC_FREEZE", "sometimes")],
)
def test_given_a_bad_collector_setting_when_rebuilding_then_one_line_and_nothing_opened(
    variable: str,
    value: str,
    opened: list[PortfolioSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    collector = gc.get_threshold(), gc.get_freeze_count()
    assert cli.main(["rebuild", "--from", "stores"], settings=PortfolioSettings()) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"bvb portfolio: the BVB_* settings are not usable: {variable}: ")
    assert said.count("\n") == 1
    assert opened == []
    assert (gc.get_threshold(), gc.get_freeze_count()) == collector  # nothing tuned


def test_given_a_bad_portfolio_setting_when_rebuilding_then_one_line_naming_it(
    opened: list[PortfolioSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BVB_PORTFOLIO_REBUILD_FOLD_MIB", "lots")
    assert cli.main(["rebuild"]) == 2
    said = capsys.readouterr().err
    assert said.startswith(
        "bvb portfolio: the BVB_* settings are not usable: BVB_PORTFOLIO_REBUILD_FOLD_MIB: "
    )
    assert "lots" not in said  # the platform's settings never repeat their input
    assert said.count("\n") == 1
    assert opened == []


async def test_given_a_bad_collector_setting_when_the_rebuild_is_called_then_nothing_opened(
    opened: list[PortfolioSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BVB_PROJECTION_GC_YOUNG", "-1")
    with pytest.raises(cli.SettingsUnusable, match="BVB_PROJECTION_GC_YOUNG"):
        await cli.rebuild(PortfolioSettings(), "stores", io.StringIO())
    assert opened == []
