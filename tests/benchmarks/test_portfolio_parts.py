"""`bench_portfolio`'s halves: `BENCH_PORTFOLIO_PARTS` chooses which run (both when unset)."""

import pytest

from benchmarks.bench_portfolio import parts


@pytest.mark.parametrize(
    ("named", "chosen"),
    [
        (None, {"get", "command"}),
        ("", {"get", "command"}),
        ("command", {"command"}),
        ("get", {"get"}),
        ("get, command", {"get", "command"}),
    ],
)
def test_the_parts_named_run(
    monkeypatch: pytest.MonkeyPatch, named: str | None, chosen: set[str]
) -> None:
    if named is None:
        monkeypatch.delenv("BENCH_PORTFOLIO_PARTS", raising=False)
    else:
        monkeypatch.setenv("BENCH_PORTFOLIO_PARTS", named)
    assert parts() == chosen


def test_an_unknown_part_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PORTFOLIO_PARTS", "commands")
    with pytest.raises(ValueError, match="commands"):
        parts()
