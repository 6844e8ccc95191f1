"""A relay of a KurrentDB store (ADR 0058): chosen by `BVB_EVENT_STORE=kurrentdb`, it tails
KurrentDB in the service's namespace and keeps its checkpoint where `--store` says (a SQLite
file here; PostgreSQL, with the lease, in tests/integration). The KurrentDB client connects at
its first call, so the store opened here is the real adapter without a server."""

import os
from pathlib import Path

import pytest
from kurrentdbclient.exceptions import ServiceUnavailableError

from bilet.eventstore.kurrentdb import KurrentDbEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.relay.__main__ import main, parse
from bilet.relay.app import held_lease, open_store
from bilet.relay.settings import RelaySettings, StoreLocation

URL = "kurrentdb://admin:changeit@kurrentdb.bilet.invalid:2113?tls=false"


@pytest.fixture(autouse=True)
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("BVB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BVB_KAFKA_BOOTSTRAP", "kafka:9092")


def kurrentdb_relay(tmp_path: Path, *argv: str) -> RelaySettings:
    secret = tmp_path / "kurrentdb-url"
    secret.write_text(URL)
    return RelaySettings(
        event_store="kurrentdb",
        kurrentdb_url_file=secret,
        read_model="postgres",
        key_store="postgres",
        **parse(["--service", "identity", *argv]),
    )


def test_the_event_store_kind_chooses_kurrentdb_and_the_store_option_the_checkpoint(
    tmp_path: Path,
) -> None:
    positions = tmp_path / "identity-relay.sqlite3"
    settings = kurrentdb_relay(tmp_path, "--store", f"sqlite:{positions}")
    location = settings.store_location()
    assert location == StoreLocation(sqlite_path=positions, schema="bvb_identity", kurrentdb=True)
    assert location.kind == "kurrentdb"
    # The same options without BVB_EVENT_STORE=kurrentdb: the SQLite file is the store.
    plain = RelaySettings(**parse(["--service", "identity", "--store", f"sqlite:{positions}"]))
    assert plain.store_location().kind == "sqlite"


async def test_a_kurrentdb_relay_opens_the_namespace_and_keeps_positions_apart(
    tmp_path: Path,
) -> None:
    positions_file = tmp_path / "identity-relay.sqlite3"
    settings = kurrentdb_relay(tmp_path, "--store", f"sqlite:{positions_file}", "--schema", "ns_1")
    async with open_store(settings.store_location(), 0.2, settings) as (
        store,
        positions,
        recoverable,
    ):
        assert isinstance(store, KurrentDbEventStore)
        assert store.namespace == "ns_1"
        assert issubclass(ServiceUnavailableError, recoverable)  # a KurrentDB outage: retried
        await positions.save("bilet.identity", 4096)
        await positions.save("bilet.identity", 1024)  # never moves back
        assert await positions.load("bilet.identity") == 4096
        # No events table beside the positions to count in: the gauge is left unset.
        assert await positions.count_after(0) is None
    # The checkpoint is durable in its file, and nothing else went there.
    async with open_store(settings.store_location(), 0.2, settings) as (_, positions, _):
        assert await positions.load("bilet.identity") == 4096
    async with held_lease(settings.store_location()) as lost:
        assert lost is None  # a checkpoint in a SQLite file: one machine, no lease


async def test_a_sqlite_relay_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "identity.sqlite3"
    settings = RelaySettings(**parse(["--service", "identity", "--store", f"sqlite:{path}"]))
    async with open_store(settings.store_location(), 0.2, settings) as (
        store,
        positions,
        recoverable,
    ):
        assert isinstance(store, SqliteEventStore)
        assert not issubclass(ServiceUnavailableError, recoverable)
        assert await positions.count_after(0) == 0


def test_a_kurrentdb_url_as_the_store_is_refused_with_the_way_to_say_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--service", "identity", "--store", URL]) == 2
    error = capsys.readouterr().err
    assert "BVB_EVENT_STORE=kurrentdb" in error
    assert "changeit" not in error


def test_an_unreadable_connection_string_file_stops_the_relay_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "EVENT_STORE": "kurrentdb",
        "KURRENTDB_URL_FILE": str(tmp_path / "absent"),
        "READ_MODEL": "postgres",
        "KEY_STORE": "postgres",
    }.items():
        monkeypatch.setenv(f"BVB_{name}", value)
    assert main(["--service", "identity", "--store", f"sqlite:{tmp_path / 'p.sqlite3'}"]) == 2
    assert "BVB_KURRENTDB_URL_FILE: cannot read" in capsys.readouterr().err
