"""Settings of the identity service: the platform's `BVB_*` settings and its own."""

from pathlib import Path
from typing import Final

from pydantic import Field, SecretStr

from bilet.settings import PlatformSettings

SERVICE_NAME: Final = "identity"
POSTGRES_SCHEMA: Final = "bvb_identity"


class IdentitySettings(PlatformSettings):
    # The secret of the keyed hashes that stand for a СНИЛС and for a name with a birth date
    # (`BVB_IDENTITY_PSEUDONYM_KEY`, 32 random bytes, base64). Every replica must share it, and it
    # must never change: a new key would let a child already registered register again. In
    # development it is made once under var/.
    identity_pseudonym_key: SecretStr | None = None
    # The PostgreSQL schema of the store (`BVB_EVENT_STORE=postgres`): one per service.
    identity_store_schema: str = POSTGRES_SCHEMA
    # Load the Leningrad oblast 2019 demo data when the store is empty (the embedded host does).
    identity_demo_data: bool = False
    # Follow the consent service's store in-process (embedded) for `ParticipantErased`, rather
    # than leaving it to the worker (`python -m bilet_identity.worker`, distributed).
    identity_embedded_feed: bool = True
    # Where the worker serves its Prometheus metrics (`/metrics` on this port; 0: none).
    identity_worker_metrics_port: int = Field(default=9101, ge=0, le=65535)

    @property
    def pseudonym_key_path(self) -> Path:
        return self.var_dir / f"{SERVICE_NAME}-pseudonym.key"
