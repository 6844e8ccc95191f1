"""`bilet.stores.open_key_store`: the suite's one key store, chosen by the `BVB_*` settings.

SQLite `var/keys.sqlite3` when the suite runs embedded; PostgreSQL schema `bvb_keys` when
`BVB_KEY_STORE=postgres`, or when the event stores are on PostgreSQL and `BVB_KEY_STORE` is unset,
at `BVB_KEY_STORE_URL` if set, else at `BVB_DATABASE_URL`.
"""

import base64
import secrets
import uuid
from collections.abc import Callable

import pytest

from bilet.crypto import KeyStore, MasterKey, MasterKeyError, SqliteKeyStore
from bilet.crypto.postgres import PostgresKeyStore
from bilet.settings import PlatformSettings
from bilet.stores import KEY_STORE_SCHEMA, StoreSettingsError, open_key_store

# A PostgreSQL address where nothing listens: a store opened there could not have connected.
NOWHERE = "postgresql://bvb:bvb@127.0.0.1:1/nowhere"

# Settings from exactly the given `BVB_*` variables (the `environment` fixture, conftest.py).
Environment = Callable[..., PlatformSettings]


async def _opened(settings: PlatformSettings) -> KeyStore:
    store = await open_key_store(settings)
    try:
        # It answers: a subject nobody ever registered has no key.
        assert await store.get(f"test-stores-{uuid.uuid4()}") is None
    finally:
        await store.close()
    return store


async def test_given_embedded_settings_when_opened_then_sqlite_under_var(
    environment: Environment,
) -> None:
    # A database URL alone (as after `source var/infra.env`) does not move the keys.
    settings = environment(database_url=NOWHERE)

    store = await _opened(settings)

    assert isinstance(store, SqliteKeyStore)
    assert store.path == settings.var_dir / "keys.sqlite3"
    assert (settings.var_dir / "master.key").exists()  # development: made on first use


@pytest.mark.integration
async def test_given_event_stores_on_postgres_when_opened_then_the_keys_follow_them(
    environment: Environment, database_url: str
) -> None:
    store = await _opened(environment(event_store="postgres", database_url=database_url))

    assert isinstance(store, PostgresKeyStore)
    assert store.schema == KEY_STORE_SCHEMA == "bvb_keys"


@pytest.mark.integration
async def test_given_key_store_postgres_when_events_stay_in_sqlite_then_keys_are_in_postgres(
    environment: Environment, database_url: str
) -> None:
    store = await _opened(environment(key_store="postgres", database_url=database_url))

    assert isinstance(store, PostgresKeyStore)


async def test_given_key_store_sqlite_when_events_are_on_postgres_then_keys_are_in_sqlite(
    environment: Environment,
) -> None:
    store = await _opened(
        environment(event_store="postgres", key_store="sqlite", database_url=NOWHERE)
    )

    assert isinstance(store, SqliteKeyStore)


@pytest.mark.integration
async def test_given_a_key_store_url_when_opened_then_it_wins_over_the_database_url(
    environment: Environment, database_url: str
) -> None:
    store = await _opened(
        environment(event_store="postgres", database_url=NOWHERE, key_store_url=database_url)
    )
    assert isinstance(store, PostgresKeyStore)

    # Nor is the database URL needed at all then.
    alone = await _opened(environment(key_store="postgres", key_store_url=database_url))
    assert isinstance(alone, PostgresKeyStore)


async def test_given_postgres_without_any_url_when_opened_then_it_is_refused(
    environment: Environment,
) -> None:
    with pytest.raises(StoreSettingsError, match="BVB_DATABASE_URL"):
        await open_key_store(environment(key_store="postgres"))
    with pytest.raises(StoreSettingsError, match="BVB_DATABASE_URL"):
        await open_key_store(environment(event_store="postgres"))


def test_given_an_unknown_key_store_kind_when_read_then_the_settings_are_refused(
    environment: Environment,
) -> None:
    with pytest.raises(ValueError, match="key_store"):
        environment(key_store="oracle")


async def test_given_production_without_a_master_key_when_opened_then_it_is_refused(
    environment: Environment,
) -> None:
    settings = environment(environment="production")
    with pytest.raises(MasterKeyError, match="BVB_MASTER_KEY"):
        await open_key_store(settings)
    assert not (settings.var_dir / "master.key").exists()


@pytest.mark.integration
async def test_given_production_with_a_master_key_when_opened_then_keys_are_wrapped_by_it(
    environment: Environment, database_url: str
) -> None:
    value = base64.b64encode(secrets.token_bytes(32)).decode()
    settings = environment(
        environment="production", key_store="postgres", database_url=database_url, master_key=value
    )
    subject = f"test-stores-{uuid.uuid4()}"

    store = await open_key_store(settings)
    try:
        key = await store.get_or_create(subject)
    finally:
        await store.close()

    # Another process given the same master key reads the same key.
    async with await PostgresKeyStore.open(
        database_url, MasterKey.from_base64(value), schema=KEY_STORE_SCHEMA
    ) as other:
        assert await other.get(subject) == key
    assert not (settings.var_dir / "master.key").exists()
