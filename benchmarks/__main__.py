"""`make bench`: runs every `benchmarks/bench_*.py` and prints one JSON object per line.

Each module defines `run(quick: bool) -> AsyncIterator[BenchResult]`. `BENCH_QUICK=1` asks for a
short run (under a minute in all); `BENCH_ONLY=name` runs the modules whose name contains it.
"""

import asyncio
import importlib
import os
import pkgutil
import sys
from collections.abc import AsyncIterator, Callable
from typing import cast

import benchmarks
from benchmarks.result import BenchResult

BenchRun = Callable[[bool], AsyncIterator[BenchResult]]


def discover(only: str | None) -> list[str]:
    names = [
        module.name
        for module in pkgutil.iter_modules(benchmarks.__path__)
        if module.name.startswith("bench_") and (only is None or only in module.name)
    ]
    return sorted(names)


async def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    names = discover(os.environ.get("BENCH_ONLY") or None)
    if not names:
        print("no benchmarks matched", file=sys.stderr)
        return 0
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        run = cast(BenchRun, module.run)
        async for result in run(quick):
            print(result.to_json_line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
