"""The DuckDB file of an export: a view per published event type over its Parquet files, and the
`participants` dimension. It holds no rows of its own, only view definitions (and the empty
typed tables behind the views of types not exported yet), so it is rebuilt whole on every run.

Views name their files relative to the export directory: open the database with `connect(dir)`
(or, in the DuckDB shell, from the export directory), and the directory can be moved or copied.
"""

from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from bilet.analytics.columns import schema_of, table_name
from bilet.analytics.manifest import DATABASE, DIMENSION, TABLES, durable_replace
from bilet.contracts import CATALOGUE

EMPTY_SCHEMA: Final = "empty"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def build_database(out: Path) -> Path:
    """(Re)write `analytics.duckdb` in `out` for the files there now."""
    temporary = out / f".{DATABASE}.tmp"
    temporary.unlink(missing_ok=True)
    connection = duckdb.connect(str(temporary))
    try:
        # Views are bound when created: their relative paths must resolve already.
        connection.execute("SET file_search_path = ?", [str(out.resolve())])
        connection.execute(f"CREATE SCHEMA {EMPTY_SCHEMA}")
        for event_type in CATALOGUE.event_types():
            name = table_name(event_type)
            view = _quoted(name)
            if any((out / TABLES / name).glob("month=*/*.parquet")):
                pattern = f"{TABLES}/{name}/*/*.parquet"
                connection.execute(
                    f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{pattern}', "  # noqa: S608 - names from the catalogue
                    "hive_partitioning = true, hive_types = {'month': VARCHAR})"
                )
            else:
                empty = pa.Table.from_pylist([], schema=schema_of(event_type))
                connection.register("empty_rows", empty)
                connection.execute(
                    f"CREATE TABLE {EMPTY_SCHEMA}.{view} AS "  # noqa: S608 - names from the catalogue
                    "SELECT *, CAST(NULL AS VARCHAR) AS month FROM empty_rows"
                )
                connection.unregister("empty_rows")
                connection.execute(f"CREATE VIEW {view} AS SELECT * FROM {EMPTY_SCHEMA}.{view}")  # noqa: S608
        connection.execute(f"CREATE VIEW participants AS SELECT * FROM read_parquet('{DIMENSION}')")  # noqa: S608
        connection.execute("CHECKPOINT")
    finally:
        connection.close()
    final = out / DATABASE
    durable_replace(temporary, final)
    return final


def connect(out: Path) -> duckdb.DuckDBPyConnection:
    """The export's database, read-only, resolving its views' files in `out`."""
    connection = duckdb.connect(str(out / DATABASE), read_only=True)
    connection.execute("SET file_search_path = ?", [str(out.resolve())])
    return connection
