"""`bilet.kafka`: the one place Kafka clients are built. Settings that contradict each other are
refused at start-up; secrets come from files read when a client is built, and never appear in a
message. (The broker round trips are in tests/integration/test_secured_kafka.py.)"""

import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka.abc import AbstractTokenProvider
from pydantic import SecretStr, ValidationError

from bilet.kafka import KafkaConnection, KafkaSettingsError, TokenFileProvider
from bilet.settings import PlatformSettings

SECRET = "s3cr3t-value-never-shown"


def _secret_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"security_protocol": "SASL_SSL"}, "needs BVB_KAFKA_SASL_MECHANISM"),
        ({"sasl_mechanism": "SCRAM-SHA-512"}, "does not use SASL"),
        ({"security_protocol": "TLS"}, "is not one of"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"},
            "BVB_KAFKA_SASL_MECHANISM 'GSSAPI' is not one of",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512"},
            "needs BVB_KAFKA_SASL_USERNAME",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-256",
                "sasl_username": "relay",
                "sasl_password": SecretStr(SECRET),
                "sasl_password_file": Path("/run/secrets/password"),
            },
            "exactly one of",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"},
            "needs exactly one of BVB_KAFKA_OAUTH_TOKEN_FILE",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "OAUTHBEARER",
                "oauth_token_file": Path("/run/token"),
                "sasl_username": "relay",
            },
            "takes a token",
        ),
        ({"sasl_username": "relay"}, "BVB_KAFKA_SASL_MECHANISM is not"),
        ({"ssl_cafile": Path("/etc/ca.pem")}, "does not use TLS"),
        (
            {"security_protocol": "SSL", "ssl_certfile": Path("/etc/client.pem")},
            "go together",
        ),
        ({"bootstrap_servers": " "}, "BVB_KAFKA_BOOTSTRAP is empty"),
    ],
)
def test_contradictory_settings_are_refused(fields: dict[str, Any], complaint: str) -> None:
    with pytest.raises(KafkaSettingsError, match=complaint) as refused:
        KafkaConnection(**{"bootstrap_servers": "kafka:9093", **fields})
    assert SECRET not in str(refused.value)


def test_plaintext_needs_nothing_but_the_bootstrap() -> None:
    options = KafkaConnection.of("127.0.0.1:9092").client_options()
    assert options == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}


def test_scram_password_is_read_from_its_file_whenever_a_client_is_built(tmp_path: Path) -> None:
    password = _secret_file(tmp_path, "password", "first\n")
    connection = KafkaConnection(
        bootstrap_servers="kafka:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="bilet-relay",
        sasl_password_file=password,
    )
    options = connection.client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "bilet-relay",
        "first",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode is ssl.CERT_REQUIRED
    assert options["ssl_context"].check_hostname
    # A rotated Secret: the next client gets the new password, no restart.
    password.write_text("second", encoding="utf-8")
    assert connection.client_options()["sasl_plain_password"] == "second"
    assert SECRET not in repr(connection)


def test_a_missing_or_empty_secret_file_is_named_without_its_content(tmp_path: Path) -> None:
    connection = KafkaConnection(
        bootstrap_servers="kafka:9093",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="bilet",
        sasl_password_file=tmp_path / "absent",
    )
    with pytest.raises(KafkaSettingsError, match="BVB_KAFKA_SASL_PASSWORD_FILE: cannot read"):
        connection.client_options()
    _secret_file(tmp_path, "absent", "\n")
    with pytest.raises(KafkaSettingsError, match="is empty"):
        connection.client_options()


def test_a_tls_file_that_is_not_there_is_named(tmp_path: Path) -> None:
    connection = KafkaConnection(
        bootstrap_servers="kafka:9093", security_protocol="SSL", ssl_cafile=tmp_path / "ca.pem"
    )
    with pytest.raises(KafkaSettingsError, match="BVB_KAFKA_SSL_CAFILE"):
        connection.producer()


async def test_an_oauth_token_file_is_read_again_at_every_login(tmp_path: Path) -> None:
    token = _secret_file(tmp_path, "token", "eyJ.first\n")
    connection = KafkaConnection(
        bootstrap_servers="kafka:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        oauth_token_file=token,
    )
    provider = connection.client_options()["sasl_oauth_token_provider"]
    assert isinstance(provider, TokenFileProvider)
    assert await provider.token() == "eyJ.first"
    token.write_text("eyJ.second", encoding="utf-8")
    assert await provider.token() == "eyJ.second"


class StaticTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    async def token(self) -> str:
        return "eyJ.from-the-provider"


NOT_A_PROVIDER = object()


async def test_an_oauth_token_provider_is_loaded_by_name() -> None:
    connection = KafkaConnection(
        bootstrap_servers="kafka:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        oauth_token_provider=f"{__name__}:StaticTokenProvider",
    )
    provider = connection.client_options()["sasl_oauth_token_provider"]
    assert await provider.token() == "eyJ.from-the-provider"
    for spec, complaint in (
        (f"{__name__}:NOT_A_PROVIDER", "is not an aiokafka AbstractTokenProvider"),
        (f"{__name__}:Missing", "has no attribute"),
        ("no_colon", "wants module:attribute"),
    ):
        wrong = KafkaConnection(
            bootstrap_servers="kafka:9093",
            security_protocol="SASL_SSL",
            sasl_mechanism="OAUTHBEARER",
            oauth_token_provider=spec,
        )
        with pytest.raises(KafkaSettingsError, match=complaint):
            wrong.client_options()


def test_clients_take_their_connection_settings_from_the_connection_only() -> None:
    with pytest.raises(TypeError, match="sasl_plain_password"):
        KafkaConnection.of("kafka:9092").producer(sasl_plain_password="x")


def test_settings_build_the_connection_from_bvb_kafka_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    password = _secret_file(tmp_path, "password", SECRET)
    for name, value in {
        "BVB_KAFKA_BOOTSTRAP": "kafka-0.kafka:9093,kafka-1.kafka:9093",
        "BVB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "BVB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "BVB_KAFKA_SASL_USERNAME": "bilet-portfolio",
        "BVB_KAFKA_SASL_PASSWORD_FILE": str(password),
    }.items():
        monkeypatch.setenv(name, value)
    connection = PlatformSettings().kafka_connection()
    assert connection.bootstrap_servers == "kafka-0.kafka:9093,kafka-1.kafka:9093"
    assert connection.client_options()["sasl_plain_password"] == SECRET
    monkeypatch.delenv("BVB_KAFKA_SASL_MECHANISM")
    with pytest.raises(ValidationError, match="needs BVB_KAFKA_SASL_MECHANISM"):
        PlatformSettings()
    monkeypatch.setenv("BVB_KAFKA_SASL_MECHANISM", "SCRAM-SHA-1")
    with pytest.raises(ValidationError):
        PlatformSettings()
