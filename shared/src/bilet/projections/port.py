"""What a projection is: a name, the tables it owns, and a pure function from (read-model
transaction, event) to changes. The same projection runs on SQLite and PostgreSQL, fed from Kafka
or straight from an event store.

SQL in a projection is written once for both databases:
- parameters are PostgreSQL's `$1, $2, …` (SQLite receives them as `?1, ?2, …`);
- tables are named through placeholders, `{stream_counts}`, so the runtime can point the same
  code at shadow tables during a rebuild (a literal brace is written `{{` or `}}`);
- column types come from the portable subset TEXT, BIGINT, INTEGER, DOUBLE PRECISION, BOOLEAN,
  BYTEA; upserts are `INSERT … ON CONFLICT (…) DO UPDATE SET … = excluded.…`;
- parameters are str, int, float, bool, bytes or None (convert UUIDs and times to text).
"""

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeVar, cast

from bilet.eventstore import RecordedEvent

Dialect = Literal["sqlite", "postgresql"]
Row = tuple[Any, ...]

# Names of projections and their tables: plain lower-case identifiers, the same on both databases.
IDENTIFIER: Final = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
RESERVED_PREFIX: Final = "bvb_"
# What a transaction names as changed (`ReadModelTx.changed`) when every key is: reference data
# shown with every participant's portfolio.
EVERY_KEY: Final = "*"
SHADOW_SUFFIX: Final = "__rebuild"


@dataclass(frozen=True, slots=True)
class Table:
    """A read-model table: `columns` is the body of its CREATE TABLE in the portable subset
    (`"stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL"`); each entry of `indexes` is a column
    list to index (`"last_type, stream_id"`)."""

    name: str
    columns: str
    indexes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not IDENTIFIER.match(self.name) or SHADOW_SUFFIX in self.name:
            raise ValueError(f"table name {self.name!r} is not a plain lower-case identifier")
        if self.name.startswith(RESERVED_PREFIX):
            raise ValueError(f"table names starting with {RESERVED_PREFIX!r} are the runtime's")


class BeforeCommit(Protocol):
    """Work a projection gathers over the events of one transaction and does once, after the
    last of them and before the commit: a participant's document rendered once per batch rather
    than once per event (ADR 0060). Made by `ReadModelTx.gathered` with no arguments."""

    async def before_commit(self, tx: "ReadModelTx") -> None: ...


_Work = TypeVar("_Work", bound=BeforeCommit)


class ReadModelTx(ABC):
    """One read-model database transaction, as a projection sees it.

    Everything a projection does for one event, and the runtime's checkpoint, commit together.
    Writes may be sent in batches (PostgreSQL pipelines consecutive writes), so a projection must
    not rely on a write's error surfacing at the `execute` call: it surfaces before the commit.
    Reads always see the transaction's earlier writes, but not work gathered for the commit
    (`gathered`) until it is done.
    """

    dialect: Dialect
    # Whether a write may be sent together with an earlier one of the same statement, ahead of
    # the writes in between, when those touch none of its tables (by their `{placeholders}`):
    # the end state is the same. Set by a rebuild's long transactions (ADR 0068), where
    # thousands of events interleave a few statements; errors then surface all the same, before
    # the commit, but not in the order the writes were made.
    regroup_writes: bool = False

    def __init__(self, renderer: "SqlRenderer") -> None:
        self._renderer = renderer
        self.changes: set[str] = set()
        self._gathered: dict[type[BeforeCommit], BeforeCommit] = {}

    def changed(self, key: str) -> None:
        """Name something this transaction changes (a participant id; `EVERY_KEY`:
        everything): once it commits, the tasks watching
        that key in every process are woken (`ReadModel.watch`)."""
        self.changes.add(key)

    def gathered(self, kind: type[_Work]) -> _Work:
        """This transaction's one `kind()`, made when first asked for: what a projection
        collects in it over the batch's events is done once, by its `before_commit`, after the
        last event (`settle`). A transaction holds a batch of one feed partition, or a single
        event when the runtime retries one alone, so the work covers exactly what commits."""
        work = self._gathered.get(kind)
        if work is None:
            work = self._gathered[kind] = kind()
        return cast(_Work, work)

    async def settle(self) -> None:
        """Do the gathered work, in the order it was first asked for. The runtime calls it after
        a batch's last event, so that its errors count as the projection's; the read models'
        `transaction()` blocks call it again before committing (a no-op by then), so a
        projection applied outside the runtime (tests, tools) loses nothing."""
        while self._gathered:
            kind = next(iter(self._gathered))
            work = self._gathered.pop(kind)
            await work.before_commit(self)

    def sql(self, text: str) -> str:
        """The statement as this database takes it: table placeholders and parameters filled in."""
        return self._renderer.render(text)

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> None: ...

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def flush(self) -> None:  # noqa: B027 - only batching adapters have something to send
        """Send writes held back for batching; errors in them are raised here."""


class Projection(Protocol):
    """A read model's logic. `apply` must be deterministic and touch nothing but `tx`: the runtime
    may run it again for the same event after a rollback, and replays it during a rebuild."""

    @property
    def name(self) -> str: ...

    @property
    def tables(self) -> Sequence[Table]: ...

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None: ...


def declared_event_fields(projection: Projection) -> frozenset[str] | None:
    """The fields of `RecordedEvent` a projection declares that `apply` reads, or None (every
    field). Optional: a projection declares them as `event_fields = frozenset({"type", "data"})`
    (the runtime's `stream_id`, `version` and `position` are always there). The Kafka feed then
    decodes only those; reading another raises `UndeclaredEventField` (ADR 0067)."""
    fields = getattr(projection, "event_fields", None)
    return None if fields is None else frozenset(fields)


_PARAMETER = re.compile(r"\$(\d+)")


class SqlRenderer:
    """Fills in table placeholders (logical name → physical name) and, for SQLite, parameter
    markers; remembers each statement, since projections send the same few again and again."""

    def __init__(
        self, dialect: Dialect, tables: Mapping[str, str], *, placeholders: bool = True
    ) -> None:
        self.dialect: Dialect = dialect
        self.tables = dict(tables)
        self._placeholders = placeholders
        self._cache: dict[str, str] = {}

    def render(self, text: str) -> str:
        rendered = self._cache.get(text)
        if rendered is None:
            try:
                fill = self._placeholders and "{" in text
                rendered = text.format_map(self.tables) if fill else text
            except KeyError as unknown:
                raise ValueError(f"unknown table {unknown} in {text!r}") from None
            if self.dialect == "sqlite":
                rendered = _PARAMETER.sub(r"?\1", rendered)
            self._cache[text] = rendered
        return rendered


def check_projection(projection: Projection) -> None:
    if not IDENTIFIER.match(projection.name) or SHADOW_SUFFIX in projection.name:
        raise ValueError(f"projection name {projection.name!r} is not a plain identifier")
    names = [table.name for table in projection.tables]
    if len(set(names)) != len(names):
        raise ValueError(f"projection {projection.name!r} declares a table twice")
