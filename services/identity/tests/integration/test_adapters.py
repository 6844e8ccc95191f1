"""The identity service's adapters as settings choose them: stores, keys and secrets."""

import base64
import os
import stat
from collections.abc import Callable

import pytest

from bilet.crypto import SqliteKeyStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.stores import StoreSettingsError
from bilet_identity.adapters.stores import (
    PseudonymKeyError,
    load_pseudonym_key,
    open_event_store,
    open_key_store,
)
from bilet_identity.settings import IdentitySettings


async def test_sqlite_under_var_unless_postgres_is_asked_for(
    make_settings: Callable[..., IdentitySettings],
) -> None:
    # A shell that sourced var/infra.env has BVB_DATABASE_URL: embedded still means SQLite.
    settings = make_settings(database_url="postgresql://nowhere/db")
    store = await open_event_store(settings)
    try:
        assert isinstance(store, SqliteEventStore)
        assert store.path == settings.var_dir / "identity.sqlite3"
    finally:
        await store.close()
    with pytest.raises(StoreSettingsError, match="BVB_DATABASE_URL"):
        await open_event_store(make_settings(event_store="postgres", database_url=None))


def test_the_event_store_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BVB_EVENT_STORE", "postgres")
    monkeypatch.setenv("BVB_IDENTITY_STORE_SCHEMA", "bvb_identity_blue")
    settings = IdentitySettings()
    assert (settings.event_store, settings.identity_store_schema) == (
        "postgres",
        "bvb_identity_blue",
    )
    monkeypatch.setenv("BVB_EVENT_STORE", "oracle")
    with pytest.raises(ValueError, match="event_store"):
        IdentitySettings()


async def test_keys_live_in_the_suites_one_key_store(
    make_settings: Callable[..., IdentitySettings],
) -> None:
    settings = make_settings()
    keystore = await open_key_store(settings)
    try:
        await keystore.get_or_create("participant-1")
    finally:
        await keystore.close()
    assert isinstance(keystore, SqliteKeyStore)
    assert keystore.path == settings.var_dir / "keys.sqlite3"
    assert (settings.var_dir / "master.key").exists()


def test_the_development_pseudonym_key_is_made_once_and_kept_private(
    make_settings: Callable[..., IdentitySettings],
) -> None:
    settings = make_settings()
    first = load_pseudonym_key(settings)
    assert load_pseudonym_key(settings) == first
    assert len(first) == 32
    mode = stat.S_IMODE(os.stat(settings.pseudonym_key_path).st_mode)
    assert mode == 0o600
    os.chmod(settings.pseudonym_key_path, 0o644)
    with pytest.raises(PseudonymKeyError, match="chmod 600"):
        load_pseudonym_key(settings)


def test_outside_development_the_pseudonym_key_comes_from_configuration(
    make_settings: Callable[..., IdentitySettings],
) -> None:
    with pytest.raises(PseudonymKeyError, match="BVB_IDENTITY_PSEUDONYM_KEY"):
        load_pseudonym_key(make_settings(environment="production"))
    configured = base64.b64encode(b"p" * 32).decode()
    settings = make_settings(environment="production", identity_pseudonym_key=configured)
    assert load_pseudonym_key(settings) == b"p" * 32
    for wrong in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(PseudonymKeyError):
            load_pseudonym_key(make_settings(identity_pseudonym_key=wrong))
