"""PostgreSQL schemas the kernel creates (event stores, read models, relay positions): their
names are interpolated into SQL, so they are checked to be plain identifiers first."""

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final, Literal

import asyncpg

_SCHEMA_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name {schema!r} is not a plain lower-case identifier")
    return schema


async def drop_schema(dsn: str, schema: str) -> None:
    """Remove a schema and everything in it (tests and tear-downs)."""
    check_schema_name(schema)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await connection.close()


# ---------------------------------------------------------------- migrating or verifying (ADR 0057)
#
# Every PostgreSQL store of the kernel creates its tables as it opens (`migrate`, the default, so
# `make run` and the embedded mode need no separate step). In production the application roles
# hold no DDL rights: `BVB_SCHEMA=verify` makes the stores only check that `bvb migrate` (run as
# a DDL role, the migrations Job) made their tables, and refuse to start naming what is missing.

SchemaMode = Literal["migrate", "verify"]
SCHEMA_MODES: Final[tuple[SchemaMode, ...]] = ("migrate", "verify")
_forced_mode: ContextVar[SchemaMode | None] = ContextVar("bvb_schema_mode", default=None)
_CREATED: Final = re.compile(
    r"CREATE\s+(?:UNLOGGED\s+)?(TABLE|SCHEMA)\s+IF\s+NOT\s+EXISTS\s+([a-z_][a-z0-9_.]*)",
    re.IGNORECASE,
)


class SchemaNotMigrated(RuntimeError):
    """`BVB_SCHEMA=verify` and the database lacks what a store needs: run `bvb migrate`."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            "the database schema is not migrated (BVB_SCHEMA=verify); missing: "
            + ", ".join(missing)
            + ". Run `bvb migrate` (the migrations Job) with a role that may CREATE."
        )


def schema_mode() -> SchemaMode:
    """`migrate` or `verify`: the migration command's own choice, else `BVB_SCHEMA`."""
    forced = _forced_mode.get()
    if forced is not None:
        return forced
    value = os.environ.get("BVB_SCHEMA", "migrate").strip().lower() or "migrate"
    for mode in SCHEMA_MODES:
        if value == mode:
            return mode
    raise ValueError(f"BVB_SCHEMA is {value!r}; it is one of {', '.join(SCHEMA_MODES)}")


@contextmanager
def migrating() -> Iterator[None]:
    """Stores opened inside this migrate, whatever `BVB_SCHEMA` says (the `bvb migrate` command)."""
    token = _forced_mode.set("migrate")
    try:
        yield
    finally:
        _forced_mode.reset(token)


def created_by(sql: str) -> list[tuple[str, str]]:
    """What a migration's `CREATE ... IF NOT EXISTS` statements make: ("schema"|"table", name)."""
    return [(match.group(1).lower(), match.group(2)) for match in _CREATED.finditer(sql)]


async def missing_relations(
    connection: asyncpg.Connection, created: list[tuple[str, str]]
) -> list[str]:
    """Those of `created` absent (an unqualified table is looked up on the search_path)."""
    missing = []
    for kind, name in created:
        query = (
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)"
            if kind == "schema"
            else "SELECT to_regclass($1) IS NOT NULL"
        )
        if not await connection.fetchval(query, name):
            missing.append(f"{kind} {name}")
    return missing


async def migrate_or_verify(connection: asyncpg.Connection, sql: str) -> None:
    """Run a store's migration, or (`verify`) check that what it creates exists."""
    if schema_mode() == "migrate":
        await connection.execute(sql)
        return
    missing = await missing_relations(connection, created_by(sql))
    if missing:
        raise SchemaNotMigrated(missing)


async def keep_session_state(_: asyncpg.Connection) -> None:
    """A pool's `reset` that does nothing. asyncpg's default (`pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL`) is one more round trip every time a connection is given back: an
    append, a projection's batch (ADR 0093). The pool still rolls back a transaction left open
    before this runs; a pool given it must keep no other session state on its connections (a
    LISTEN gets a connection of its own, locks are transaction-scoped, nothing but `SET LOCAL`)."""
