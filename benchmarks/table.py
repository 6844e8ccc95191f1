"""The table `make bench` ends with: each figure, its peer, the ratio, the target, met or not."""

from collections.abc import Sequence

from benchmarks.result import BenchResult

HEADER = ("bench", "ours", "peer", "ratio", "unit", "target", "met")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _verdict(result: BenchResult) -> str:
    if result.skipped:
        return "skipped"
    met = result.met
    if met is None:
        return "-"
    return "yes" if met else "NO"


def row(result: BenchResult) -> tuple[str, ...]:
    ours = "-" if result.skipped else _number(result.ours)
    ratio = result.ratio
    return (
        result.bench,
        ours,
        _number(result.peer),
        "-" if ratio is None else f"{ratio:.2f}",
        result.unit,
        "; ".join(str(target) for target in result.targets) or "-",
        _verdict(result),
    )


def render(results: Sequence[BenchResult]) -> str:
    """A plain-text table (Markdown-compatible) of the results, in the order they came."""
    rows = [HEADER, *(row(result) for result in results)]
    widths = [max(len(cells[column]) for cells in rows) for column in range(len(HEADER))]
    numeric = {1, 2, 3}

    def line(cells: tuple[str, ...]) -> str:
        padded = (
            cell.rjust(width) if column in numeric else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    met = sum(1 for result in results if result.met is True)
    judged = sum(1 for result in results if result.met is not None)
    skipped = sum(1 for result in results if result.skipped)
    summary = f"{met} of {judged} targets met; {skipped} skipped"
    return "\n".join([line(HEADER), rule, *(line(cells) for cells in rows[1:]), "", summary])
