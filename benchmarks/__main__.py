"""`make bench`: runs every `benchmarks/bench_*.py`, prints one JSON object per line on stdout,
then a table of all figures (bench, ours, peer, ratio, target, met or not) on stderr, so that
stdout stays JSON lines (`make bench > results.jsonl` still shows the table).

Each module defines `run(quick: bool) -> AsyncIterator[BenchResult]`. Every figure is the median
of three rounds of at least a second of work each (`benchmarks/rounds.py`); `--quick` (or
`BENCH_QUICK=1`) asks for smaller workloads for development, still three rounds;
`--only NAME` (or `BENCH_ONLY=NAME`) runs `bench_NAME`, else the modules whose name contains
it. `make bench` starts Kafka and PostgreSQL first (`scripts/bench.sh`); run directly without
them, the benches that need them print `"skipped": true` lines with the reason.
"""

import argparse
import asyncio
import importlib
import os
import pkgutil
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import cast

import benchmarks
from benchmarks.result import BenchResult
from benchmarks.table import render

BenchRun = Callable[[bool], AsyncIterator[BenchResult]]


def discover(only: str | None) -> list[str]:
    """The bench modules to run: all, the one named `bench_<only>` exactly (`events` is not
    also `eventstore`), else those whose name contains `only`."""
    names = sorted(
        module.name
        for module in pkgutil.iter_modules(benchmarks.__path__)
        if module.name.startswith("bench_")
    )
    if only is None:
        return names
    if f"bench_{only}" in names:
        return [f"bench_{only}"]
    return [name for name in names if only in name]


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Bilet's benchmarks: JSON lines on stdout, each figure against a peer "
        "measured in the same run (median of three rounds), then a table on stderr.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="smaller workloads for development (still three rounds of >= 1 s); also BENCH_QUICK=1",
    )
    parser.add_argument(
        "--only",
        metavar="NAME",
        default=os.environ.get("BENCH_ONLY") or None,
        help="run the module bench_NAME, else those whose name contains NAME (eventstore, "
        "identity, events, diagnostics, portfolio, sse, projections, relay, audit, recommender, "
        "rebuild); also BENCH_ONLY=NAME",
    )
    parser.add_argument(
        "--no-table", action="store_true", help="JSON lines only, without the closing table"
    )
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    names = discover(args.only)
    if not names:
        print("no benchmarks matched", file=sys.stderr)
        return 0
    results: list[BenchResult] = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        run = cast(BenchRun, module.run)
        async for result in run(args.quick):
            results.append(result)
            print(result.to_json_line(), flush=True)
    if not args.no_table:
        mode = "quick" if args.quick else "full"
        print(f"\n{mode} run, medians of three rounds:\n{render(results)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
