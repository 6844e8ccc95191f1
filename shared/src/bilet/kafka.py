"""Every Kafka client of the suite is built here: relay producers, projection consumers and their
dead-letter producers, workers, admin clients, tools (docs/adr/0022-secured-kafka.md).

A `KafkaConnection` says where the brokers are and how to reach them: the security protocol
(PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), the SASL mechanism (SCRAM-SHA-512, SCRAM-SHA-256,
PLAIN, OAUTHBEARER) and its credentials, the CA bundle and an optional client certificate.
Settings build it from `BVB_KAFKA_*` (`PlatformSettings.kafka_connection`); code that has only a
`host:port` string (tests, tools against the local broker) gets a PLAINTEXT connection from
`KafkaConnection.of`.

Secrets are read from files when a client is built, not when the settings load: a Kubernetes
Secret mounted as a file is rotated in place, and the next client (the relay makes a new producer
after every broker failure) picks the new value up without a restart. An OAUTHBEARER token file
(a projected service-account token, a sidecar's output) is re-read on every authentication.
"""

import asyncio
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from ssl import SSLContext
from typing import Any, Final, Literal, get_args

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

from bilet import secrets

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"]

SECURITY_PROTOCOLS: Final = frozenset(get_args(SecurityProtocol))
SASL_MECHANISMS: Final = frozenset(get_args(SaslMechanism))
_TLS: Final = frozenset({"SSL", "SASL_SSL"})
_SASL: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_PASSWORD_MECHANISMS: Final = frozenset({"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"})
# Kafka's answer to creating a topic that exists.
TOPIC_ALREADY_EXISTS: Final = 36


def every_partition_led(described: Mapping[str, Any]) -> bool:
    """Whether a topic, as an admin client's `describe_topics` gives it, has its partitions and
    each has a leader (a new topic's get theirs a moment after it is created)."""
    partitions = described["partitions"]
    return bool(partitions) and all(p["leader"] >= 0 for p in partitions)


class KafkaSettingsError(ValueError):
    """The Kafka settings contradict each other, or a secret file cannot be read. The message
    names settings and files, never a secret's value."""


def read_secret_file(path: Path, what: str) -> str:
    """A Kafka secret mounted as a file (`bilet.secrets`), refused as a Kafka settings error."""
    return secrets.read_secret_file(path, what, KafkaSettingsError)


class TokenFileProvider(AbstractTokenProvider):  # type: ignore[misc]
    """OAUTHBEARER with the token in a file, read again at every authentication (the file is
    refreshed by whoever issues the token: the kubelet, a sidecar)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        return await asyncio.to_thread(read_secret_file, self.path, "BVB_KAFKA_OAUTH_TOKEN_FILE")


def load_token_provider(spec: str) -> AbstractTokenProvider:
    """`module:attribute` naming an `AbstractTokenProvider` class (built without arguments) or
    instance: a managed Kafka's own token source (a cloud SDK's IAM signer)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise KafkaSettingsError(
            f"BVB_KAFKA_OAUTH_TOKEN_PROVIDER wants module:attribute, not {spec!r}"
        )
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise KafkaSettingsError(f"BVB_KAFKA_OAUTH_TOKEN_PROVIDER {spec!r}: {error}") from None
    provider = target() if isinstance(target, type) else target
    if not isinstance(provider, AbstractTokenProvider):
        raise KafkaSettingsError(
            f"BVB_KAFKA_OAUTH_TOKEN_PROVIDER {spec!r} is not an aiokafka AbstractTokenProvider"
        )
    return provider


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how every client of this process authenticates to them."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    oauth_token_file: Path | None = None
    oauth_token_provider: str | None = None
    # The CA bundle that signed the brokers' certificates; unset: the system's trust store.
    ssl_cafile: Path | None = None
    # A client certificate (mutual TLS, Strimzi's `tls` authentication) and its key.
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password_file: Path | None = None

    def __post_init__(self) -> None:
        for problem in self._problems():
            raise KafkaSettingsError(problem)

    def _problems(self) -> list[str]:
        protocol, mechanism = self.security_protocol, self.sasl_mechanism
        if not self.bootstrap_servers.strip():
            return ["BVB_KAFKA_BOOTSTRAP is empty"]
        if protocol not in SECURITY_PROTOCOLS:
            known = _sorted(SECURITY_PROTOCOLS)
            return [f"BVB_KAFKA_SECURITY_PROTOCOL {protocol!r} is not one of {known}"]
        if protocol in _SASL and mechanism is None:
            return [f"BVB_KAFKA_SECURITY_PROTOCOL={protocol} needs BVB_KAFKA_SASL_MECHANISM"]
        if protocol not in _SASL and mechanism is not None:
            return [
                f"BVB_KAFKA_SASL_MECHANISM is set but BVB_KAFKA_SECURITY_PROTOCOL={protocol} "
                "does not use SASL (SASL_SSL or SASL_PLAINTEXT)"
            ]
        if mechanism is not None and mechanism not in SASL_MECHANISMS:
            return [
                f"BVB_KAFKA_SASL_MECHANISM {mechanism!r} is not one of {_sorted(SASL_MECHANISMS)}"
            ]
        problems: list[str] = []
        passwords = (self.sasl_password is not None) + (self.sasl_password_file is not None)
        tokens = (self.oauth_token_file is not None) + (self.oauth_token_provider is not None)
        if mechanism in _PASSWORD_MECHANISMS:
            if not self.sasl_username or passwords != 1:
                problems.append(
                    f"SASL {mechanism} needs BVB_KAFKA_SASL_USERNAME and exactly one of "
                    "BVB_KAFKA_SASL_PASSWORD_FILE, BVB_KAFKA_SASL_PASSWORD"
                )
            if tokens:
                problems.append(f"an OAUTHBEARER token is set but the mechanism is {mechanism}")
        elif mechanism == "OAUTHBEARER":
            if tokens != 1:
                problems.append(
                    "SASL OAUTHBEARER needs exactly one of BVB_KAFKA_OAUTH_TOKEN_FILE, "
                    "BVB_KAFKA_OAUTH_TOKEN_PROVIDER"
                )
            if passwords or self.sasl_username:
                problems.append("SASL OAUTHBEARER takes a token, not a username and password")
        elif passwords or self.sasl_username or tokens:
            problems.append("SASL credentials are set but BVB_KAFKA_SASL_MECHANISM is not")
        tls_files = (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile)
        if protocol not in _TLS and any(tls_files):
            problems.append(
                f"TLS files are set but BVB_KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS "
                "(SSL or SASL_SSL)"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            problems.append("BVB_KAFKA_SSL_CERTFILE and BVB_KAFKA_SSL_KEYFILE go together")
        if self.ssl_key_password_file is not None and self.ssl_keyfile is None:
            problems.append("BVB_KAFKA_SSL_KEY_PASSWORD_FILE without BVB_KAFKA_SSL_KEYFILE")
        return problems

    @classmethod
    def of(cls, target: "KafkaConnection | str") -> "KafkaConnection":
        """A connection as given, or a bare `host:port[,…]` as a PLAINTEXT connection."""
        return target if isinstance(target, KafkaConnection) else cls(bootstrap_servers=target)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in _TLS

    def client_options(self) -> dict[str, Any]:
        """The security arguments every aiokafka client takes, secrets read from their files now."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        mechanism = self.sasl_mechanism
        if mechanism is not None:
            options["sasl_mechanism"] = mechanism
        if mechanism in _PASSWORD_MECHANISMS:
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self._password()
        elif mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = (
                TokenFileProvider(self.oauth_token_file)
                if self.oauth_token_file is not None
                else load_token_provider(self.oauth_token_provider or "")
            )
        return options

    def ssl_context(self) -> SSLContext:
        """Verifies the brokers' certificates and host names (never turned off)."""
        for path, what in (
            (self.ssl_cafile, "BVB_KAFKA_SSL_CAFILE"),
            (self.ssl_certfile, "BVB_KAFKA_SSL_CERTFILE"),
            (self.ssl_keyfile, "BVB_KAFKA_SSL_KEYFILE"),
        ):
            if path is not None and not path.is_file():
                raise KafkaSettingsError(f"{what}: {path} is not a readable file")
        key_password = (
            read_secret_file(self.ssl_key_password_file, "BVB_KAFKA_SSL_KEY_PASSWORD_FILE")
            if self.ssl_key_password_file is not None
            else None
        )
        context: SSLContext = create_ssl_context(
            cafile=self.ssl_cafile,
            certfile=self.ssl_certfile,
            keyfile=self.ssl_keyfile,
            password=key_password,
        )
        return context

    def _password(self) -> str:
        if self.sasl_password_file is not None:
            return read_secret_file(self.sasl_password_file, "BVB_KAFKA_SASL_PASSWORD_FILE")
        assert self.sasl_password is not None  # checked in __post_init__
        return self.sasl_password.get_secret_value()

    def producer(self, **options: Any) -> AIOKafkaProducer:
        return AIOKafkaProducer(**self._merged(options))

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(*topics, **self._merged(options))

    def admin(self, **options: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self._merged(options))

    def _merged(self, options: Mapping[str, Any]) -> dict[str, Any]:
        reserved = {"bootstrap_servers", "security_protocol", "ssl_context"} | {
            name for name in options if name.startswith("sasl_")
        }
        if clash := reserved & options.keys():
            raise TypeError(f"connection settings come from the KafkaConnection: {sorted(clash)}")
        return {**self.client_options(), **options}


def _sorted(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


KafkaTarget = KafkaConnection | str
"""What functions that open Kafka clients take: a connection, or a bare PLAINTEXT bootstrap."""
