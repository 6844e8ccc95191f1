"""`BVB_EVENT_STORE=kurrentdb` (ADR 0058): what the settings refuse at start-up, where the
connection string comes from (a mounted secret's file), and what `bilet.stores` opens with them.

Opening a KurrentDB store contacts no server (the client connects at its first call), so the
store opened here is the real adapter with the settings' namespace and connection string."""

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from bilet.eventstore.kurrentdb import KurrentDbEventStore
from bilet.settings import KurrentDbSettingsError, PlatformSettings
from bilet.stores import open_event_store

# Settings from exactly the given `BVB_*` variables (the `environment` fixture, conftest.py).
Environment = Callable[..., PlatformSettings]
URL = "kurrentdb://admin:changeit@kurrentdb.bilet.invalid:2113?tls=false"


@pytest.mark.parametrize(
    ("kinds", "missing"),
    [
        ({}, "set BVB_READ_MODEL and BVB_KEY_STORE to sqlite or postgres"),
        ({"read_model": "postgres"}, "set BVB_KEY_STORE to sqlite or postgres"),
        ({"key_store": "postgres"}, "set BVB_READ_MODEL to sqlite or postgres"),
    ],
)
def test_kurrentdb_without_a_read_model_or_key_store_kind_is_refused_naming_them(
    environment: Environment, kinds: dict[str, str], missing: str
) -> None:
    with pytest.raises(ValidationError, match=missing) as refused:
        environment(event_store="kurrentdb", kurrentdb_url=URL, **kinds)
    assert "changeit" not in str(refused.value)


def test_kurrentdb_with_both_kinds_set_keeps_them(environment: Environment) -> None:
    settings = environment(
        event_store="kurrentdb", kurrentdb_url=URL, read_model="postgres", key_store="sqlite"
    )
    assert (settings.read_model_kind, settings.key_store_kind) == ("postgres", "sqlite")
    assert settings.kurrentdb_connection_string() == URL


def test_kurrentdb_needs_a_connection_string_from_one_place_only(
    environment: Environment, tmp_path: Path
) -> None:
    kinds = {"read_model": "sqlite", "key_store": "sqlite"}
    with pytest.raises(ValidationError, match="needs BVB_KURRENTDB_URL_FILE"):
        environment(event_store="kurrentdb", **kinds)
    secret = tmp_path / "url"
    secret.write_text(URL)
    with pytest.raises(ValidationError, match="not both"):
        environment(
            event_store="kurrentdb", kurrentdb_url=URL, kurrentdb_url_file=str(secret), **kinds
        )


def test_a_connection_string_of_another_database_is_refused_without_showing_it(
    environment: Environment,
) -> None:
    with pytest.raises(ValidationError, match="BVB_KURRENTDB_URL is not a KurrentDB") as refused:
        environment(kurrentdb_url="postgresql://bvb:s3cret@db/bvb")
    assert "s3cret" not in str(refused.value)


def test_the_connection_string_is_read_from_its_file_when_a_store_opens(
    environment: Environment, tmp_path: Path
) -> None:
    secret = tmp_path / "kurrentdb-url"
    secret.write_text(URL + "\n")  # as an editor or `kubectl create secret --from-file` leaves it
    settings = environment(
        event_store="kurrentdb",
        kurrentdb_url_file=str(secret),
        read_model="sqlite",
        key_store="sqlite",
    )
    assert settings.kurrentdb_connection_string() == URL
    # Rotated in place: the next store opened reads the new value, no restart needed.
    rotated = URL.replace("changeit", "rotated")
    secret.write_text(rotated)
    assert settings.kurrentdb_connection_string() == rotated
    secret.write_text("postgresql://x:y@db/z")
    with pytest.raises(KurrentDbSettingsError, match="BVB_KURRENTDB_URL_FILE is not a KurrentDB"):
        settings.kurrentdb_connection_string()
    secret.write_text("\n")
    with pytest.raises(KurrentDbSettingsError, match=r"BVB_KURRENTDB_URL_FILE: .* is empty"):
        settings.kurrentdb_connection_string()
    secret.unlink()
    with pytest.raises(KurrentDbSettingsError, match="BVB_KURRENTDB_URL_FILE: cannot read"):
        settings.kurrentdb_connection_string()


def test_the_ca_file_is_read_as_the_client_needs_it(
    environment: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    settings = environment(kurrentdb_url=URL, kurrentdb_ca_file=str(ca))
    assert settings.kurrentdb_root_certificates() == ca.read_bytes()
    ca.unlink()
    with pytest.raises(KurrentDbSettingsError, match="BVB_KURRENTDB_CA_FILE: cannot read"):
        settings.kurrentdb_root_certificates()
    monkeypatch.delenv("BVB_KURRENTDB_CA_FILE")
    assert environment(kurrentdb_url=URL).kurrentdb_root_certificates() is None


async def test_the_service_opens_kurrentdb_in_a_namespace_named_as_its_schema(
    environment: Environment, tmp_path: Path
) -> None:
    secret = tmp_path / "kurrentdb-url"
    secret.write_text(URL)
    settings = environment(
        event_store="kurrentdb",
        kurrentdb_url_file=str(secret),
        read_model="sqlite",
        key_store="sqlite",
    )
    for schema, namespace in ((None, "bvb_identity"), ("bvb_identity_trial", "bvb_identity_trial")):
        store = await open_event_store(settings, "identity", schema=schema)
        try:
            assert isinstance(store, KurrentDbEventStore)
            assert store.namespace == namespace
        finally:
            await store.close()
    # Nothing of it lands in var/: the events are KurrentDB's, the read model's kind was asked.
    assert not (tmp_path / "var" / "identity.sqlite3").exists()
