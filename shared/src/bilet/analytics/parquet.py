"""The export's Parquet files: one directory per table, one per month inside (Hive style,
`tables/<table>/month=YYYY-MM/part-<run>-<n>.parquet`), and the rewrite that removes a
participant's rows from files written before.

Events gather in memory per table and month until the run commits a chunk; each chunk becomes
new files (never appended to old ones), written durably (`manifest.durable_replace`).
"""

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bilet.analytics.columns import PARTICIPANT_COLUMN, Taken, table_name, table_of
from bilet.analytics.manifest import TABLES, durable_replace
from bilet.analytics.pseudonyms import Pseudonymiser

COMPRESSION: Final = "zstd"
# Events of a type and month made columns at a time (`PendingRows`).
BUILT_ROWS: Final = 256


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` durably: whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, temporary, compression=COMPRESSION)
    durable_replace(temporary, path)


class PendingRows:
    """Events of the current chunk, by event type and month. A group's events are made columns
    (`columns.table_of`) every `BUILT_ROWS`: the decoded events then die young, rather than
    piling up for the whole chunk where every collection of the garbage collector walks them
    (and Arrow holds the rows in a fraction of their memory)."""

    def __init__(self, pseudonymiser: Pseudonymiser) -> None:
        self.pseudonymiser = pseudonymiser
        self._taken: dict[tuple[str, str], list[Taken]] = {}
        self._built: dict[tuple[str, str], list[pa.Table]] = defaultdict(list)
        self.count = 0

    def add(self, event_type: str, month: str, taken: Taken) -> None:
        key = (event_type, month)
        group = self._taken.get(key)
        if group is None:
            group = self._taken[key] = []
        group.append(taken)
        self.count += 1
        if len(group) >= BUILT_ROWS:
            self._built[key].append(table_of(event_type, group, self.pseudonymiser))
            self._taken[key] = []

    def flush(self, out: Path, run: str, chunk: int) -> tuple[list[str], dict[str, int]]:
        """Write every pending group as a new file; the files' names (relative to `out`) and
        the rows written by table. Nothing is pending afterwards."""
        files: list[str] = []
        rows: dict[str, int] = defaultdict(int)
        for event_type, month in sorted(self._taken.keys() | self._built.keys()):
            tables = self._built.get((event_type, month), [])
            if rest := self._taken.get((event_type, month)):
                tables.append(table_of(event_type, rest, self.pseudonymiser))
            if not tables:
                continue
            name = table_name(event_type)
            relative = Path(TABLES, name, f"month={month}", f"part-{run}-{chunk:05d}.parquet")
            write_parquet(pa.concat_tables(tables).combine_chunks(), out / relative)
            files.append(relative.as_posix())
            rows[name] += sum(table.num_rows for table in tables)
        self._taken.clear()
        self._built.clear()
        self.count = 0
        return files, dict(rows)


def remove_participants(out: Path, files: Iterable[str], pseudonyms: set[str]) -> int:
    """Rewrite each file holding rows of these participants without them; the rows removed.
    A file left empty stays, empty: the manifest keeps listing it."""
    if not pseudonyms:
        return 0
    wanted = pa.array(sorted(pseudonyms), type=pa.string())
    removed = 0
    for name in sorted(files):
        path = out / name
        if PARTICIPANT_COLUMN not in pq.read_schema(path).names:
            continue
        table = pq.read_table(path)
        keep = pc.invert(pc.is_in(table[PARTICIPANT_COLUMN], value_set=wanted))
        kept = table.filter(keep)
        if kept.num_rows != table.num_rows:
            removed += table.num_rows - kept.num_rows
            write_parquet(kept, path)
    return removed


def rows_by_table(out: Path, files: Iterable[str]) -> dict[str, int]:
    """Rows per table in the listed files, from their footers."""
    counts: dict[str, int] = defaultdict(int)
    for name in files:
        table = Path(name).parts[1]
        counts[table] += pq.read_metadata(out / name).num_rows
    return dict(sorted(counts.items()))
