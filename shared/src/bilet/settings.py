"""Platform settings, read from `BVB_*` environment variables (one place, typed, validated)."""

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    database_url: str | None = None
    # Which event store a service opens: its SQLite file under var_dir (embedded), or PostgreSQL at
    # database_url (each service in its own schema). Chosen by configuration, never by code.
    event_store: Literal["sqlite", "postgres"] = "sqlite"
    # Wraps the per-participant data keys (bilet.crypto); required outside development.
    master_key: SecretStr | None = None
    # Bearer tokens: where the signing keys are (a JWKS file or URL) and what tokens must name.
    # In development without either, `bvb` makes its own key under var/ (bilet.http.devkeys).
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str = "bilet"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    max_request_bytes: int = Field(default=1 << 20, ge=1024)

    def sqlite_path(self, service: str) -> Path:
        """Where the embedded mode keeps a service's SQLite store: one file per service."""
        return self.var_dir / f"{service}.sqlite3"
