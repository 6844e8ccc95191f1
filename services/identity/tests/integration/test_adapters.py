"""The identity service's adapters as settings choose them: stores, keys and secrets."""

import base64
import os
from collections.abc import Callable

import pytest

from bilet.contracts import CATALOGUE
from bilet.crypto import SqliteKeyStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.stores import StoreSettingsError
from bilet_identity.adapters.pseudonym_key import STREAM, PseudonymKeyError, load_pseudonym_key
from bilet_identity.adapters.stores import open_event_store, open_key_store
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


async def _load(settings: IdentitySettings) -> bytes:
    store = await open_event_store(settings)
    keystore = await open_key_store(settings)
    try:
        return await load_pseudonym_key(settings, store, keystore)
    finally:
        await keystore.close()
        await store.close()


def _files_holding(settings: IdentitySettings, secret: bytes) -> list[str]:
    forms = (secret, base64.b64encode(secret), secret.hex().encode())
    return sorted(
        path.name
        for path in settings.var_dir.rglob("*")
        if path.is_file() and any(form in path.read_bytes() for form in forms)
    )


async def test_the_pseudonym_key_is_made_once_and_kept_by_the_key_store_never_in_clear(
    make_settings: Callable[..., IdentitySettings],
) -> None:
    settings = make_settings()  # no pseudonym key configured: none is needed
    first = await _load(settings)
    assert len(first) == 32
    assert await _load(settings) == first
    assert await _load(make_settings()) == first, "every replica, every start: the same key"
    assert not settings.pseudonym_key_path.exists()
    assert _files_holding(settings, first) == [], "only wrapped, in no file in the clear"
    store = await open_event_store(settings)
    try:
        (kept,) = await store.read_stream(STREAM)
        assert kept.type == "PseudonymKeyKept"
        assert not CATALOGUE.is_published(kept.type)
    finally:
        await store.close()


async def test_a_key_configured_the_old_way_is_taken_over_once(
    make_settings: Callable[..., IdentitySettings],
) -> None:
    """The development file: read once, kept by the key store, deleted; reservations made with
    it keep matching."""
    settings = make_settings()
    legacy = b"L" * 32
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.pseudonym_key_path.write_text(base64.b64encode(legacy).decode())
    os.chmod(settings.pseudonym_key_path, 0o644)
    with pytest.raises(PseudonymKeyError, match="chmod 600"):
        await _load(settings)
    os.chmod(settings.pseudonym_key_path, 0o600)
    assert await _load(settings) == legacy
    assert not settings.pseudonym_key_path.exists()
    assert await _load(settings) == legacy
    assert _files_holding(settings, legacy) == []
    # The setting of production: the same key is accepted, another one stops the service.
    same = base64.b64encode(legacy).decode()
    assert await _load(make_settings(identity_pseudonym_key=same)) == legacy
    other = base64.b64encode(b"p" * 32).decode()
    with pytest.raises(PseudonymKeyError, match="differs"):
        await _load(make_settings(identity_pseudonym_key=other))
    for wrong in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(PseudonymKeyError):
            await _load(make_settings(identity_pseudonym_key=wrong))
