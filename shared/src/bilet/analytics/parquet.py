"""The export's Parquet files: one directory per table, one per month inside (Hive style,
`tables/<table>/month=YYYY-MM/part-<run>-<n>.parquet`), and the rewrite that removes a
participant's rows from files written before.

Rows gather in memory per table and month until the run commits a chunk; each chunk becomes
new files (never appended to old ones), written durably (`manifest.durable_replace`).
"""

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bilet.analytics.columns import PARTICIPANT_COLUMN, schema_of, table_name
from bilet.analytics.manifest import TABLES, durable_replace

COMPRESSION: Final = "zstd"


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` durably: whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, temporary, compression=COMPRESSION)
    durable_replace(temporary, path)


class PendingRows:
    """Rows of the current chunk, by event type and month."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
        self.count = 0

    def add(self, event_type: str, month: str, row: dict[str, object]) -> None:
        self._rows[(event_type, month)].append(row)
        self.count += 1

    def flush(self, out: Path, run: str, chunk: int) -> tuple[list[str], dict[str, int]]:
        """Write every pending group as a new file; the files' names (relative to `out`) and
        the rows written by table. Nothing is pending afterwards."""
        files: list[str] = []
        rows: dict[str, int] = defaultdict(int)
        for (event_type, month), group in sorted(self._rows.items()):
            name = table_name(event_type)
            relative = Path(TABLES, name, f"month={month}", f"part-{run}-{chunk:05d}.parquet")
            write_parquet(pa.Table.from_pylist(group, schema=schema_of(event_type)), out / relative)
            files.append(relative.as_posix())
            rows[name] += len(group)
        self._rows.clear()
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
