"""A rebuild folded in process, then written to PostgreSQL with COPY (ADR 0076).

ADR 0068 left the PostgreSQL rebuild at a few hundred events/s: about one statement per event,
each a round trip on a loaded machine. Here the history is replayed into a private SQLite
database beside the process instead (`FoldReadModel`), through the same runtime and the same
projection handlers the live path runs (`EmbeddedFeed` with `shadow=True` and long transactions:
the same dedupe, parking, dead letters and checkpoints, only on SQLite, whose statements cost
microseconds); its finished shadow tables, applied versions and bookkeeping rows are then
written into the PostgreSQL read model's shadow tables with `COPY` in one transaction, and the
rebuild switches them live as every rebuild does (`rebuild.rebuild`: the atomic swap, with the
live checkpoints locked).

Memory is bounded by a budget: the fold's page cache (`PRAGMA cache_size`) holds up to
`memory_mib` of its tables; beyond that SQLite spills pages to the fold's file in a private
temporary directory, removed when the rebuild ends. The file holds what the read model holds
(sealed fields stay sealed: projections keep envelopes), no more.
"""

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import asyncpg

from bilet.eventstore import EventStore
from bilet.projections.embedded import EmbeddedFeed
from bilet.projections.port import Projection
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.readmodel.schema import (
    CHECKPOINTS,
    DEAD_LETTERS,
    PARKED,
    index_name,
    layout_of,
)
from bilet.projections.sqlite import SqliteReadModel

# The fold's page cache unless told otherwise: a season of 100,000 pupils' tables fits.
DEFAULT_MEMORY_MIB: Final = 1024
# Rows taken from the fold at a time while COPY streams them to PostgreSQL.
COPY_CHUNK: Final = 10_000
_BOOKKEEPING: Final = (CHECKPOINTS, PARKED, DEAD_LETTERS)


class FoldReadModel(SqliteReadModel):
    """A throwaway SQLite read model to fold a rebuild in: nothing in it must survive a crash
    (a rebuild killed half-way starts again), so it never syncs, and its page cache is the
    memory budget."""

    def __init__(self, path: Path, memory_mib: int) -> None:
        super().__init__(path)
        for connection in (self._writer, self._reader):
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute("PRAGMA temp_store=MEMORY")
        # Negative: KiB rather than pages. The reader only serves the runtime's small reads.
        self._writer.execute(f"PRAGMA cache_size=-{int(memory_mib) * 1024}")

    @classmethod
    async def open_fold(cls, path: Path, memory_mib: int) -> "FoldReadModel":
        path.parent.mkdir(parents=True, exist_ok=True)
        fold = cls(path, memory_mib)
        await fold._install_bookkeeping()
        return fold

    def rows(self, sql: str, *args: Any) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """The column names and a lazy iterator over a query's rows (for COPY)."""
        cursor = self._reader.execute(sql, args)
        names = [column[0] for column in cursor.description]

        def chunks() -> Iterator[tuple[Any, ...]]:
            while chunk := cursor.fetchmany(COPY_CHUNK):
                yield from chunk

        return names, chunks()


class FoldedReplay:
    """A rebuild's replay (`rebuild.Replay`): fold the sources up to the targets, then copy the
    fold's shadow into the PostgreSQL read model's shadow. Each call copies the whole fold
    again: a second round (the live feed moved on during the first) folds only what is new, and
    the copy replaces what the first round wrote."""

    shadow = True

    def __init__(
        self,
        read_model: PostgresReadModel,
        fold: FoldReadModel,
        projection: Projection,
        sources: Mapping[str, EventStore],
        **options: Any,
    ) -> None:
        self.read_model = read_model
        self.fold = fold
        self.projection = projection
        self.feed = EmbeddedFeed(fold, projection, sources, shadow=True, **options)
        self._prepared = False

    async def catch_up(self, targets: Mapping[tuple[str, int], int]) -> None:
        if not self._prepared:
            await self.fold.prepare_shadow(self.projection)
            self._prepared = True
        await self.feed.catch_up(targets)
        async with self.read_model.connection() as connection, connection.transaction():
            await copy_shadow(self.fold, connection, self.read_model.schema, self.projection)


async def copy_shadow(
    fold: FoldReadModel, connection: asyncpg.Connection, schema: str, projection: Projection
) -> None:
    """Replace the PostgreSQL shadow of `projection` (tables made by `prepare_shadow`) with the
    fold's: every table emptied, its indexes dropped, its rows copied, the indexes built again
    (once, over the finished table, rather than row by row), and the shadow's bookkeeping rows
    (checkpoints, parked streams, dead letters) replaced by the fold's."""
    layout = layout_of(projection, "postgresql", shadow=True)
    indexes = {layout.tables[table.name]: table.indexes for table in projection.tables}
    for physical in layout.tables.values():
        for number, _ in enumerate(indexes.get(physical, ())):
            await connection.execute(
                f"DROP INDEX IF EXISTS {schema}.{index_name(physical, number)}"
            )
        await connection.execute(f"TRUNCATE {schema}.{physical}")
        await _copy(fold, connection, schema, physical, f"SELECT * FROM {physical}")  # noqa: S608
        for number, columns in enumerate(indexes.get(physical, ())):
            await connection.execute(
                f"CREATE INDEX {index_name(physical, number)} ON {schema}.{physical} ({columns})"
            )
    for table in _BOOKKEEPING:
        await connection.execute(f"DELETE FROM {schema}.{table} WHERE projection = $1", layout.key)  # noqa: S608
        select = f"SELECT * FROM {table} WHERE projection = ?"  # noqa: S608
        await _copy(fold, connection, schema, table, select, layout.key)


async def _copy(
    fold: FoldReadModel,
    connection: asyncpg.Connection,
    schema: str,
    table: str,
    select: str,
    *args: Any,
) -> None:
    names, rows = fold.rows(select, *args)
    convert = _converters(await _column_types(connection, schema, table), names)
    await connection.copy_records_to_table(
        table,
        schema_name=schema,
        columns=names,
        records=(tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in rows),
    )


async def _column_types(connection: asyncpg.Connection, schema: str, table: str) -> dict[str, str]:
    rows = await connection.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = $2",
        schema,
        table,
    )
    return {row["column_name"]: row["data_type"] for row in rows}


def _same(value: Any) -> Any:
    return value


def _boolean(value: Any) -> Any:
    return None if value is None else bool(value)


def _double(value: Any) -> Any:
    return None if value is None else float(value)


def _converters(types: Mapping[str, str], names: Sequence[str]) -> list[Any]:
    """SQLite hands back a BOOLEAN as 0 or 1 and a whole DOUBLE PRECISION as an int; COPY's
    binary format wants the PostgreSQL column's own type. Everything else of the portable
    subset (text, integers, bytes) arrives as it is."""
    by_type = {"boolean": _boolean, "double precision": _double}
    return [by_type.get(types[name], _same) for name in names]


@contextlib.asynccontextmanager
async def fold_database(memory_mib: int) -> AsyncIterator[FoldReadModel]:
    """A fold in a private temporary directory (mode 0700), removed with it afterwards."""
    with tempfile.TemporaryDirectory(prefix="bvb-rebuild-fold-") as directory:
        fold = await FoldReadModel.open_fold(Path(directory) / "fold.sqlite3", memory_mib)
        try:
            yield fold
        finally:
            await fold.close()


__all__ = ["DEFAULT_MEMORY_MIB", "FoldReadModel", "FoldedReplay", "copy_shadow", "fold_database"]
