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
temporary directory, removed when the rebuild ends, or by a later rebuild if the process was
killed first (`remove_dead_folds`, ADR 0083). The file holds what the read model holds
(sealed fields stay sealed: projections keep envelopes), no more: what a projection leaves until
the copy (below) is what it would write, or the part of an event it is written from (its data,
the schema version to decode it), never the event's metadata (actor, correlation and trace ids).

Work left until the copy (ADR 0097): the fold's transactions are `FoldTx`, so a projection can
tell that no reader sees its tables before the copy, and leave work whose result only the copy
reads (a participant's document, rendered again by each transaction that touched them) to one
pass just before it: the projection's optional `before_copy(tx)` (`FoldsBeforeCopy`), run after
every round of folding and before that round's copy, a part at a time, each part in a fold
transaction of its own (`FoldReadModel.do_left_work`), so that the fold's WAL holds one part's
changes, not a round's (tens of GB at a million pupils). What it leaves must be kept in the
fold's own transactions (tables of its own in the fold, its `fold_tables`, made once with the
projection's tables), so that a transaction rolled back leaves nothing behind, as on the live
path.
"""

import contextlib
import fcntl
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import asyncpg

from bilet.eventstore import EventStore
from bilet.projections.embedded import EmbeddedFeed
from bilet.projections.port import Projection, ReadModelTx, SqlRenderer
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.readmodel import Layout
from bilet.projections.readmodel.schema import (
    CHECKPOINTS,
    DEAD_LETTERS,
    PARKED,
    index_name,
    layout_of,
)
from bilet.projections.sqlite import SqliteReadModel, SqliteTx

_log = logging.getLogger(__name__)

# The fold's page cache unless told otherwise: a season of 100,000 pupils' tables fits.
DEFAULT_MEMORY_MIB: Final = 1024
# Rows taken from the fold at a time while COPY streams them to PostgreSQL.
COPY_CHUNK: Final = 10_000
_BOOKKEEPING: Final = (CHECKPOINTS, PARKED, DEAD_LETTERS)
# Folds are made in `<tmp>/bvb-rebuild-folds-<uid>/fold-<pid>-<random>/` (`fold_database`).
FOLDS_PREFIX: Final = "bvb-rebuild-folds"
FOLD_PREFIX: Final = "fold-"
_FOLDS_LOCK: Final = ".lock"  # the parent's: held while a fold is made or dead ones removed
_FOLD_LOCK: Final = "fold.lock"  # a fold's: held by its process as long as the fold lives


class FoldTx(SqliteTx):
    """A transaction of a rebuild's fold: its tables are private to the rebuild and copied only
    once the round's history is in, so what only the copy reads may be left until then
    (`FoldsBeforeCopy`)."""


@runtime_checkable
class FoldsBeforeCopy(Protocol):
    """A projection that leaves work to just before the copy when folded (optional)."""

    # The fold's own tables that keep the work left (`CREATE TABLE IF NOT EXISTS` statements,
    # no placeholders: never copied), made with the projection's tables (`FoldReadModel.install`).
    fold_tables: Sequence[str]

    async def before_copy(self, tx: ReadModelTx) -> bool:
        """Do a part of the work the fold's transactions left (the part and its removal from
        what is left, in `tx`): whether there may be more. Called in a new fold transaction
        each time until it answers False; the fold's tables then hold what a live catch-up's
        would."""


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

    async def install(self, projection: Projection, *, shadow: bool = False) -> Layout:
        """The projection's tables, and those a fold keeps its left work in (once per fold, not
        at every transaction that leaves some)."""
        layout = await super().install(projection, shadow=shadow)
        if isinstance(projection, FoldsBeforeCopy):
            async with self.transaction(self._ddl) as tx:
                for statement in projection.fold_tables:
                    await tx.execute(statement)
        return layout

    async def do_left_work(self, projection: Projection, renderer: SqlRenderer) -> None:
        """The work `projection` left until the copy, if it leaves any (`FoldsBeforeCopy`),
        one part per transaction: each committed part is off the WAL at the next checkpoint."""
        if not isinstance(projection, FoldsBeforeCopy):
            # Half the protocol would leave work undone without a word: say so instead.
            if hasattr(projection, "before_copy"):
                raise TypeError(f"{projection.name}: before_copy without fold_tables")
            return
        more = True
        while more:
            async with self.transaction(renderer) as tx:
                more = await projection.before_copy(tx)

    def _write_tx(self, renderer: SqlRenderer) -> SqliteTx:
        return FoldTx(self._writer, renderer)


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
        self._renderer = layout_of(projection, fold.dialect, shadow=True).renderer
        self._prepared = False

    async def catch_up(self, targets: Mapping[tuple[str, int], int]) -> None:
        if not self._prepared:
            await self.fold.prepare_shadow(self.projection)
            self._prepared = True
        await self.feed.catch_up(targets)
        await self.fold.do_left_work(self.projection, self._renderer)
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
        table, schema_name=schema, columns=names, records=_converted(rows, convert)
    )


def _converted(rows: Iterator[tuple[Any, ...]], convert: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """The rows with the columns that need it converted: most tables have no boolean or double
    column, and their rows go as SQLite gave them (a tuple rebuilt per row was ~5% of a
    rebuild's CPU)."""
    columns = [(at, f) for at, f in enumerate(convert) if f is not _same]
    if not columns:
        return rows
    return (_fix(list(row), columns) for row in rows)


def _fix(row: list[Any], columns: Sequence[tuple[int, Any]]) -> list[Any]:
    for at, convert in columns:
        row[at] = convert(row[at])
    return row


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


def folds_parent() -> Path:
    """Where folds are made: a directory of this user's, mode 0700, in the temporary directory."""
    return Path(tempfile.gettempdir()) / f"{FOLDS_PREFIX}-{os.getuid()}"


def _private_directory(path: Path) -> None:
    """`path` made a directory of mode 0700, or checked to be one already: in a shared /tmp,
    never someone else's directory, nor a link to one."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    status = path.lstat()
    if (
        not stat.S_ISDIR(status.st_mode)
        or status.st_uid != os.getuid()
        or stat.S_IMODE(status.st_mode) & 0o077
    ):
        raise PermissionError(f"{path} is not a private directory of this user")


def _open_lock(path: Path, *, create: bool) -> int:
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    return os.open(path, flags, 0o600)


def remove_dead_folds(parent: Path) -> list[Path]:
    """Remove the fold directories under `parent` whose process is gone: each holds its lock
    file locked (`flock`) for as long as it lives, and the kernel releases the lock when the
    process ends however it ends (SIGKILL, OOM), so a lock that can be taken is a dead fold's.
    Call it holding the parent's lock (`_FOLDS_LOCK`): folds are made under it too, so none is
    seen between its directory and its lock. The directories removed."""
    removed = []
    # This process's own folds are never a dead process's (and where `flock` is emulated with
    # per-process locks, as on NFS, a second open here would take a live fold's lock).
    own = f"{FOLD_PREFIX}{os.getpid()}-"
    for directory in sorted(parent.iterdir()):
        name = directory.name
        if not name.startswith(FOLD_PREFIX) or name.startswith(own):
            continue
        if directory.is_symlink() or not directory.is_dir():
            continue
        try:
            if _remove_if_dead(directory):
                removed.append(directory)
        except OSError as error:  # a leftover that cannot go now never stops a rebuild
            _log.warning(
                "a dead fold's directory was not removed",
                extra={"directory": str(directory), "error": type(error).__name__},
            )
    return removed


def _remove_if_dead(directory: Path) -> bool:
    """Remove the fold directory unless its lock is held: whether it was removed."""
    try:
        descriptor = _open_lock(directory / _FOLD_LOCK, create=False)
    except FileNotFoundError:  # died between its directory and its lock
        descriptor = None
    try:
        if descriptor is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # alive, in another process
        shutil.rmtree(directory)
        return True
    finally:
        if descriptor is not None:
            os.close(descriptor)


@contextlib.contextmanager
def _fold_directory(parent: Path) -> Iterator[Path]:
    """A new fold directory under `parent`, locked while in use and removed afterwards; the
    leftovers of dead folds are removed first."""
    _private_directory(parent)
    folds_lock = _open_lock(parent / _FOLDS_LOCK, create=True)
    try:
        fcntl.flock(folds_lock, fcntl.LOCK_EX)  # held while dead folds go and this one is made
        remove_dead_folds(parent)
        directory = Path(tempfile.mkdtemp(prefix=f"{FOLD_PREFIX}{os.getpid()}-", dir=parent))
        held = _open_lock(directory / _FOLD_LOCK, create=True)
        fcntl.flock(held, fcntl.LOCK_EX)
    finally:
        os.close(folds_lock)  # and its lock with it
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)  # still locked: no one else removes it
        os.close(held)


@contextlib.asynccontextmanager
async def fold_database(
    memory_mib: int, parent: Path | None = None
) -> AsyncIterator[FoldReadModel]:
    """A fold in a private directory (mode 0700) under `parent` (`folds_parent()` unless told),
    removed with it afterwards; a fold whose process died hard (SIGKILL) before it could remove
    its directory is removed by the next fold made under the same parent."""
    with _fold_directory(parent or folds_parent()) as directory:
        fold = await FoldReadModel.open_fold(directory / "fold.sqlite3", memory_mib)
        try:
            yield fold
        finally:
            await fold.close()


__all__ = [
    "DEFAULT_MEMORY_MIB",
    "FoldReadModel",
    "FoldTx",
    "FoldedReplay",
    "FoldsBeforeCopy",
    "copy_shadow",
    "fold_database",
    "folds_parent",
    "remove_dead_folds",
]
