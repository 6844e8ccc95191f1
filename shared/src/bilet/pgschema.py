"""PostgreSQL schemas the kernel creates (event stores, read models, relay positions): their
names are interpolated into SQL, so they are checked to be plain identifiers first."""

import re
from typing import Final

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
