"""One benchmark figure: ours against a peer measured in the same run, as a JSON line, and the
target it is judged by (the closing table of `make bench` shows whether it was met)."""

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Figure = Literal["ratio", "ours"]


@dataclass(frozen=True)
class Target:
    """What a figure must reach: `ratio >= 0.7` (ours / peer) or `ours <= 20` (ms, say)."""

    figure: Figure
    at_least: bool
    value: float

    def met_by(self, ours: float, ratio: float | None) -> bool | None:
        """Whether the figure reaches the target; None when it was not measured."""
        measured = ratio if self.figure == "ratio" else ours
        if measured is None:
            return None
        return measured >= self.value if self.at_least else measured <= self.value

    def __str__(self) -> str:
        return f"{self.figure} {'>=' if self.at_least else '<='} {self.value:g}"


def ratio_at_least(value: float) -> Target:
    return Target("ratio", True, value)


def ours_at_least(value: float) -> Target:
    return Target("ours", True, value)


def ours_at_most(value: float) -> Target:
    return Target("ours", False, value)


@dataclass(frozen=True)
class BenchResult:
    bench: str
    ours: float
    peer: float | None
    unit: str
    extra: dict[str, Any] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()

    @property
    def skipped(self) -> bool:
        return bool(self.extra.get("skipped"))

    @property
    def ratio(self) -> float | None:
        return None if not self.peer else self.ours / self.peer

    @property
    def met(self) -> bool | None:
        """Whether every target is met; None without a target or when it was not measured."""
        if not self.targets or self.skipped:
            return None
        verdicts = [target.met_by(self.ours, self.ratio) for target in self.targets]
        if any(verdict is None for verdict in verdicts):
            return None
        return all(verdicts)

    def to_json_line(self) -> str:
        ratio = self.ratio
        line: dict[str, Any] = {
            "bench": self.bench,
            "ours": round(self.ours, 1),
            "peer": None if self.peer is None else round(self.peer, 1),
            "ratio": None if ratio is None else round(ratio, 3),
            "unit": self.unit,
            **self.extra,
        }
        if self.targets:
            line["target"] = "; ".join(str(target) for target in self.targets)
            line["met"] = self.met
        return json.dumps(line, ensure_ascii=False)
