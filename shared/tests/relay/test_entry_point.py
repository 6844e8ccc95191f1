"""`python -m bilet.relay` takes its settings from options and BVB_* variables, refuses bad ones
with exit status 2, and logs one JSON object per line."""

import json
import logging
from pathlib import Path

import pytest

from bilet.kafka import KafkaConnection
from bilet.logs import JsonFormatter
from bilet.relay.__main__ import main, parse
from bilet.relay.settings import RelaySettings, StoreLocation


def test_options_win_over_variables_and_the_store_defaults_to_the_embedded_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BVB_RELAY_SERVICE", "consent")
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("BVB_RELAY_PARTITIONS", "12")
    monkeypatch.setenv("BVB_KAFKA_BOOTSTRAP", "kafka:9092")
    settings = RelaySettings(**parse(["--service", "identity"]))
    assert settings.service() == "identity"
    assert settings.store_location() == StoreLocation(sqlite_path=tmp_path / "identity.sqlite3")
    assert settings.kafka_options().partitions == 12
    assert settings.kafka_options().connection == KafkaConnection("kafka:9092")


def test_a_postgresql_store_takes_its_schema() -> None:
    settings = RelaySettings(
        **parse(
            ["--service", "events", "--store", "postgresql://u:p@db/bvb_events", "--schema", "es"]
        )
    )
    assert settings.store_location() == StoreLocation(
        dsn="postgresql://u:p@db/bvb_events", schema="es"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--store", "sqlite:x.db"],  # no service
        ["--service", "identity", "--store", "mysql://x"],
        ["--service", "identity", "--store", "sqlite:"],
        ["--service", "Identity!"],
    ],
)
def test_bad_settings_exit_with_status_2_and_say_why(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BVB_RELAY_SERVICE", raising=False)
    monkeypatch.setenv("BVB_KAFKA_BOOTSTRAP", "kafka:9092")
    assert main(argv) == 2
    assert "bilet.relay:" in capsys.readouterr().err


def test_a_missing_kafka_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BVB_KAFKA_BOOTSTRAP", raising=False)
    assert main(["--service", "identity", "--store", "sqlite:x.db"]) == 2
    assert "BVB_KAFKA_BOOTSTRAP" in capsys.readouterr().err


def test_log_lines_are_json_with_the_extra_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "bilet.relay",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "publishing interrupted",
            "relay": "bilet.identity",
            "position": 42,
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "publishing interrupted"
    assert (line["level"], line["relay"], line["position"]) == ("warning", "bilet.identity", 42)


def test_the_replication_default_is_no_longer_one_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BVB_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.delenv("BVB_RELAY_REPLICATION_FACTOR", raising=False)
    assert RelaySettings().kafka_options().replication_factor is None
    monkeypatch.setenv("BVB_RELAY_REPLICATION_FACTOR", "0")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RelaySettings()
