"""Platform settings, read from `BVB_*` environment variables (one place, typed, validated)."""

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bilet.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from bilet.pgschema import SchemaMode
from bilet.secrets import read_secret_file

# What a KurrentDB (EventStoreDB) connection string starts with: the client's schemes, a single
# node or `+discover` for a cluster's gossip (`kdb` is the client's short form).
KURRENTDB_SCHEMES = (
    "kurrentdb://",
    "kurrentdb+discover://",
    "esdb://",
    "esdb+discover://",
    "kdb://",
    "kdb+discover://",
)


class KurrentDbSettingsError(ValueError):
    """The KurrentDB settings are incomplete or contradict each other. The message names
    settings and files, never the connection string (it may carry a password)."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class PlatformSettings(BaseSettings):
    """Settings every process of the suite understands.

    Service-specific settings subclass this so that one environment configures a whole deployment.
    """

    # Errors never repeat the input: it holds connection strings and passwords.
    model_config = SettingsConfigDict(
        env_prefix="BVB_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    var_dir: Path = Path("var")
    kafka_bootstrap: str | None = None
    # How every Kafka client of the process authenticates (bilet.kafka, docs/adr/0022): secrets
    # as files (`*_FILE`, a mounted Secret), read whenever a client is built.
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password_file: Path | None = None
    # For local work only; a deployment mounts the password as a file.
    kafka_sasl_password: SecretStr | None = None
    kafka_oauth_token_file: Path | None = None
    # `module:attribute`: an aiokafka AbstractTokenProvider (a managed Kafka's IAM token signer).
    kafka_oauth_token_provider: str | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password_file: Path | None = None
    database_url: str | None = None
    # Which event store a service opens: its SQLite file under var_dir (embedded), PostgreSQL at
    # database_url (each service in its own schema), or KurrentDB (EventStoreDB) at kurrentdb_url
    # (each service in its own namespace, named as its PostgreSQL schema would be; ADR 0058).
    # Chosen by configuration, never by code.
    event_store: Literal["sqlite", "postgres", "kurrentdb"] = "sqlite"
    # KurrentDB's connection string (`kurrentdb://user:password@host:2113?tls=true`, `esdb://`,
    # `+discover` for a cluster): from a mounted Secret's file in a deployment (read whenever a
    # store is opened), or the variable itself for local work. The CA that signed the server's
    # certificate, when the system's trust store does not know it.
    kurrentdb_url: SecretStr | None = None
    kurrentdb_url_file: Path | None = None
    kurrentdb_ca_file: Path | None = None
    # SQLite event stores' `synchronous`: FULL (a commit survives a power loss) unless a load
    # that can be re-run from scratch asks for NORMAL (`bvb simulate season --sync normal`:
    # survives a crash of the process, not of the machine; docs/adr/0056).
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # Where read models live (projections of portfolio, recommender and the small fact tables of
    # the other services): SQLite files under var_dir, or PostgreSQL at database_url in a schema of
    # their own. Unset: the same kind as the event store (required with KurrentDB, which holds
    # events only).
    read_model: Literal["sqlite", "postgres"] | None = None
    # Where the per-participant data keys live: ONE key store for the whole suite, since erasing a
    # participant must make their fields unreadable in every service's history at once. SQLite
    # file `var/keys.sqlite3` embedded; PostgreSQL (`key_store_url`, else database_url, schema
    # `bvb_keys`) in production. Unset: the same kind as the event store (required with
    # KurrentDB).
    key_store: Literal["sqlite", "postgres"] | None = None
    key_store_url: SecretStr | None = None
    # `BVB_SCHEMA`: `migrate` (the stores make their PostgreSQL tables as they open) or `verify`
    # (they only check that `bvb migrate` made them, and refuse to start naming what is missing;
    # production, whose application roles hold no DDL rights). ADR 0057; read by bilet.pgschema.
    schema_mode: SchemaMode = Field(
        default="migrate", validation_alias=AliasChoices("BVB_SCHEMA", "schema_mode")
    )
    # Wraps the per-participant data keys (bilet.crypto); required outside development.
    master_key: SecretStr | None = None
    # Bearer tokens: where the signing keys are (a JWKS file or URL) and what tokens must name.
    # In development without either, `bvb` makes its own key under var/ (bilet.http.devkeys).
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str = "bilet"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # The longest a token may live from `iat` to `exp`; longer ones are refused (401).
    jwt_max_lifetime_seconds: int = Field(default=12 * 3600, ge=60)
    # Browser front ends on other origins (bilet.http.semantics): comma-separated exact origins
    # (`https://host[:port]`), no wildcard; empty (the default) sends no CORS header at all.
    cors_origins: str = ""
    max_request_bytes: int = Field(default=1 << 20, ge=1024)
    # Slow clients (bilet.http.deadlines): a request's headers arrive within this many seconds
    # of the connection's opening (or of the request's first byte), its body within
    # `request_body_seconds` plus a second per `request_body_min_rate` bytes; else 408.
    request_headers_seconds: float = Field(default=10.0, gt=0, le=300)
    request_body_seconds: float = Field(default=10.0, gt=0, le=300)
    request_body_min_rate: int = Field(default=1024, ge=1)

    @model_validator(mode="after")
    def _kafka_settings_agree(self) -> "PlatformSettings":
        # A contradiction (SASL_SSL without a mechanism, a password for OAUTHBEARER) is refused
        # at start-up, not at the first connection minutes later.
        if self.kafka_bootstrap:
            self.kafka_connection()
        return self

    @model_validator(mode="after")
    def _kurrentdb_settings_agree(self) -> "PlatformSettings":
        # Refused at start-up: a service that would find out at its first append, or keep its
        # read model in a SQLite file nobody meant it to, is worse than one that does not start.
        if self.kurrentdb_url is not None and self.kurrentdb_url_file is not None:
            raise KurrentDbSettingsError(
                "set one of BVB_KURRENTDB_URL, BVB_KURRENTDB_URL_FILE, not both"
            )
        if self.kurrentdb_url is not None:
            check_kurrentdb_url(self.kurrentdb_url.get_secret_value(), "BVB_KURRENTDB_URL")
        if self.event_store != "kurrentdb":
            return self
        if self.kurrentdb_url is None and self.kurrentdb_url_file is None:
            raise KurrentDbSettingsError(
                "BVB_EVENT_STORE=kurrentdb needs BVB_KURRENTDB_URL_FILE (a mounted secret) "
                "or BVB_KURRENTDB_URL"
            )
        unset = [
            name
            for name, value in (
                ("BVB_READ_MODEL", self.read_model),
                ("BVB_KEY_STORE", self.key_store),
            )
            if value is None
        ]
        if unset:
            raise KurrentDbSettingsError(
                "BVB_EVENT_STORE=kurrentdb keeps only events in KurrentDB: read models and data "
                f"keys cannot live there, so set {' and '.join(unset)} to sqlite or postgres"
            )
        return self

    def kurrentdb_connection_string(self) -> str:
        """KurrentDB's connection string, read from its secret file now (ADR 0058)."""
        if self.kurrentdb_url_file is not None:
            url = read_secret_file(
                self.kurrentdb_url_file, "BVB_KURRENTDB_URL_FILE", KurrentDbSettingsError
            )
            check_kurrentdb_url(url, "BVB_KURRENTDB_URL_FILE")
            return url
        if self.kurrentdb_url is None:
            raise KurrentDbSettingsError(
                "no KurrentDB: set BVB_KURRENTDB_URL_FILE or BVB_KURRENTDB_URL"
            )
        return self.kurrentdb_url.get_secret_value()

    def kurrentdb_root_certificates(self) -> bytes | None:
        """The CA bundle KurrentDB's certificate is checked against (None: the system's)."""
        if self.kurrentdb_ca_file is None:
            return None
        try:
            return self.kurrentdb_ca_file.read_bytes()
        except OSError as error:
            raise KurrentDbSettingsError(
                f"BVB_KURRENTDB_CA_FILE: cannot read {self.kurrentdb_ca_file} ({error.strerror})"
            ) from None

    def kafka_connection(self) -> KafkaConnection:
        """Every Kafka client of this process is built from this (bilet.kafka)."""
        if not self.kafka_bootstrap:
            raise ValueError("no Kafka: set BVB_KAFKA_BOOTSTRAP")
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            sasl_password_file=self.kafka_sasl_password_file,
            oauth_token_file=self.kafka_oauth_token_file,
            oauth_token_provider=self.kafka_oauth_token_provider,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_key_password_file=self.kafka_ssl_key_password_file,
        )

    @property
    def read_model_kind(self) -> Literal["sqlite", "postgres"]:
        return self.read_model or self._event_store_for("a read model")

    @property
    def key_store_kind(self) -> Literal["sqlite", "postgres"]:
        return self.key_store or self._event_store_for("the key store")

    def _event_store_for(self, what: str) -> Literal["sqlite", "postgres"]:
        if self.event_store == "kurrentdb":  # refused at start-up; settings built unchecked
            raise KurrentDbSettingsError(f"{what} cannot live in KurrentDB: set its kind")
        return self.event_store

    def sqlite_path(self, service: str) -> Path:
        """Where the embedded mode keeps a service's SQLite store: one file per service."""
        return self.var_dir / f"{service}.sqlite3"


def check_kurrentdb_url(url: str, what: str) -> None:
    """A KurrentDB connection string, or a clear refusal that does not repeat it."""
    if not url.startswith(KURRENTDB_SCHEMES):
        raise KurrentDbSettingsError(
            f"{what} is not a KurrentDB connection string: it starts with one of "
            f"{', '.join(KURRENTDB_SCHEMES)} (the value is not shown)"
        )
