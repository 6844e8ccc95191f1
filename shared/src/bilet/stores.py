"""Opening what a process keeps its data in, as the settings say (one place for every service).

- Event store: the service's SQLite file under `var/` (embedded), PostgreSQL schema
  `bvb_<service>` at `BVB_DATABASE_URL` (`BVB_EVENT_STORE=postgres`), or KurrentDB namespace
  `bvb_<service>` at `BVB_KURRENTDB_URL(_FILE)` (`BVB_EVENT_STORE=kurrentdb`, ADR 0058).
- Read models: `var/<service>-readmodel.sqlite3`, or PostgreSQL schema `bvb_<service>_rm`.
- Data keys: one key store for the whole suite (`bilet.crypto.open_key_store`).
- Source stores: the embedded feed reads other services' stores directly (`make run`).
"""

from collections.abc import Iterable

from bilet.crypto import KeyStore, SqliteKeyStore, load_master_key
from bilet.eventstore import EventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.projections.readmodel import ReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet.settings import Environment, PlatformSettings

KEY_STORE_SCHEMA = "bvb_keys"


class StoreSettingsError(Exception):
    """The settings ask for a store they do not say how to reach."""


def store_schema(service: str) -> str:
    return f"bvb_{service}"


def read_model_schema(service: str) -> str:
    return f"bvb_{service}_rm"


def _database_url(settings: PlatformSettings, what: str) -> str:
    if settings.database_url is None:
        raise StoreSettingsError(f"{what} on PostgreSQL needs BVB_DATABASE_URL")
    return settings.database_url


async def open_event_store(
    settings: PlatformSettings, service: str, *, schema: str | None = None
) -> EventStore:
    """The service's own event store. `schema` names its PostgreSQL schema, and on KurrentDB
    its namespace (the prefix of its stream names), so one name places a service's events on
    either."""
    if settings.event_store == "kurrentdb":
        from bilet.eventstore.kurrentdb import KurrentDbEventStore

        return await KurrentDbEventStore.open(
            settings.kurrentdb_connection_string(),
            namespace=schema or store_schema(service),
            root_certificates=settings.kurrentdb_root_certificates(),
        )
    if settings.event_store == "postgres":
        from bilet.eventstore.postgres import PostgresEventStore

        return await PostgresEventStore.open(
            _database_url(settings, "BVB_EVENT_STORE=postgres"),
            schema=schema or store_schema(service),
        )
    return await SqliteEventStore.open(settings.sqlite_path(service), settings.sqlite_synchronous)


async def open_read_model(
    settings: PlatformSettings, service: str, *, schema: str | None = None
) -> ReadModel:
    """The service's read-model database (its projections' tables and checkpoints)."""
    if settings.read_model_kind == "postgres":
        from bilet.projections.postgres import PostgresReadModel

        return await PostgresReadModel.open(
            _database_url(settings, "A read model"), schema=schema or read_model_schema(service)
        )
    return await SqliteReadModel.open(settings.var_dir / f"{service}-readmodel.sqlite3")


async def open_key_store(settings: PlatformSettings) -> KeyStore:
    """The suite's one key store of per-participant data keys, wrapped by the master key
    (`BVB_MASTER_KEY`; made under var/ in development)."""
    master = load_master_key(
        settings.master_key.get_secret_value() if settings.master_key else None,
        settings.var_dir,
        development=settings.environment is Environment.DEVELOPMENT,
    )
    if settings.key_store_kind == "postgres":
        from bilet.crypto.postgres import PostgresKeyStore

        url = (
            settings.key_store_url.get_secret_value()
            if settings.key_store_url is not None
            else _database_url(settings, "The key store")
        )
        return await PostgresKeyStore.open(url, master, schema=KEY_STORE_SCHEMA)
    return SqliteKeyStore(settings.var_dir / "keys.sqlite3", master)


async def open_source_stores(
    settings: PlatformSettings, services: Iterable[str]
) -> dict[str, EventStore]:
    """Other services' event stores, by service name, for an embedded feed. Closing them is the
    caller's; on a failure the ones already open are closed."""
    stores: dict[str, EventStore] = {}
    try:
        for service in services:
            stores[service] = await open_event_store(settings, service)
    except BaseException:
        for store in stores.values():
            await store.close()
        raise
    return stores
