"""Platform settings, read from `BVB_*` environment variables (one place, typed, validated)."""

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bilet.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from bilet.pgschema import SchemaMode


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class PlatformSettings(BaseSettings):
    """Settings every process of the suite understands.

    Service-specific settings subclass this so that one environment configures a whole deployment.
    """

    model_config = SettingsConfigDict(env_prefix="BVB_", extra="ignore", frozen=True)

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
    # Which event store a service opens: its SQLite file under var_dir (embedded), or PostgreSQL at
    # database_url (each service in its own schema). Chosen by configuration, never by code.
    event_store: Literal["sqlite", "postgres"] = "sqlite"
    # SQLite event stores' `synchronous`: FULL (a commit survives a power loss) unless a load
    # that can be re-run from scratch asks for NORMAL (`bvb simulate season --sync normal`:
    # survives a crash of the process, not of the machine; docs/adr/0056).
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # Where read models live (projections of portfolio, recommender and the small fact tables of
    # the other services): SQLite files under var_dir, or PostgreSQL at database_url in a schema of
    # their own. Unset: the same kind as the event store.
    read_model: Literal["sqlite", "postgres"] | None = None
    # Where the per-participant data keys live: ONE key store for the whole suite, since erasing a
    # participant must make their fields unreadable in every service's history at once. SQLite
    # file `var/keys.sqlite3` embedded; PostgreSQL (`key_store_url`, else database_url, schema
    # `bvb_keys`) in production. Unset: the same kind as the event store.
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
        return self.read_model or self.event_store

    @property
    def key_store_kind(self) -> Literal["sqlite", "postgres"]:
        return self.key_store or self.event_store

    def sqlite_path(self, service: str) -> Path:
        """Where the embedded mode keeps a service's SQLite store: one file per service."""
        return self.var_dir / f"{service}.sqlite3"
