"""Platform settings, read from `BVB_*` environment variables (one place, typed, validated)."""

from enum import StrEnum
from pathlib import Path

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
    # Wraps the per-participant data keys (bilet.crypto); required outside development.
    master_key: SecretStr | None = None

    def sqlite_path(self, service: str) -> Path:
        """Where the embedded mode keeps a service's SQLite store: one file per service."""
        return self.var_dir / f"{service}.sqlite3"
