"""One benchmark figure: ours against a peer measured in the same run, as a JSON line."""

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BenchResult:
    bench: str
    ours: float
    peer: float | None
    unit: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return None if not self.peer else self.ours / self.peer

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
        return json.dumps(line, ensure_ascii=False)
