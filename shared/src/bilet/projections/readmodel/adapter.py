"""What each database adapter of the read-model store provides (`SqliteReadModel`,
`PostgresReadModel`): transactions and readers, which errors are whose, the applied-versions
statements, and the optional hooks for DDL locks and cross-process wake-ups."""

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager

from bilet.projections.port import Dialect, ReadModelTx, SqlRenderer
from bilet.projections.readmodel.schema import Layout


class ReadModelAdapter(ABC):
    """The hooks `ReadModel` is written over, one implementation per database."""

    dialect: Dialect

    @abstractmethod
    def transaction(self, renderer: SqlRenderer) -> AbstractAsyncContextManager[ReadModelTx]:
        """A write transaction: commits when the block ends, rolls back when it raises."""

    @abstractmethod
    def reader(self, renderer: SqlRenderer) -> AbstractAsyncContextManager[ReadModelTx]:
        """A connection for queries that never waits for writers."""

    @abstractmethod
    def is_transient(self, error: BaseException) -> bool:
        """Whether an error is the database's (connection lost, lock timeout) rather than the
        projection's: transient errors are retried, never dead-lettered."""

    @abstractmethod
    def is_missing_table(self, error: BaseException) -> bool: ...

    @abstractmethod
    async def load_versions(
        self, tx: ReadModelTx, layout: Layout, source: str, stream_ids: Collection[str]
    ) -> dict[str, int]: ...

    @abstractmethod
    async def save_versions(
        self, tx: ReadModelTx, layout: Layout, source: str, rows: Sequence[tuple[str, int, int]]
    ) -> None:
        """Store (stream id, version, position) rows of one source."""

    @abstractmethod
    async def _rename_index(
        self, tx: ReadModelTx, old: str, new: str, table: str, columns: str
    ) -> None: ...

    # Whether commits of other processes reach `announce` here (PostgreSQL: LISTEN/NOTIFY).
    hears_other_processes: bool = False

    async def announce_in(  # noqa: B027 - optional
        self, tx: ReadModelTx, key: str, changed: Collection[str] | None = None
    ) -> None:
        """Tell other processes, at commit, that `key` moved on and which of its keys changed
        (`changed`; None: any may have) (PostgreSQL: NOTIFY)."""

    async def _prepare_wakeups(self) -> None:  # noqa: B027 - optional
        """Start listening to other processes' announcements before the first look."""

    async def _lock_schema(self, tx: ReadModelTx) -> None:  # noqa: B027 - optional
        """Serialise DDL between processes that start at once (PostgreSQL)."""

    async def _lock_applied_for_switch(  # noqa: B027 - optional
        self, tx: ReadModelTx, applied: str
    ) -> None:
        """Before a switch locks any checkpoint (PostgreSQL: see its own)."""

    async def _existing_indexes(self, tx: ReadModelTx, names: Collection[str]) -> set[str]:
        """Which of the indexes `names` exist already, so that `install` leaves them alone
        (PostgreSQL: see its own). None known here: SQLite's DDL takes the file's one write lock,
        which a batch never holds while it waits for another."""
        return set()

    @abstractmethod
    async def close(self) -> None: ...
