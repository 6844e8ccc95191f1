"""Settings of the identity service: the platform's `BVB_*` settings and its own."""

from pathlib import Path
from typing import Final

from pydantic import Field, SecretStr, model_validator

from bilet.settings import Environment, PlatformSettings

SERVICE_NAME: Final = "identity"
POSTGRES_SCHEMA: Final = "bvb_identity"
# Why identity's erasures cannot run on KurrentDB (ADR 0058): they purge streams (ADR 0016).
KURRENTDB_CANNOT_ERASE: Final = (
    "identity purges an erased participant's reservations and profile from its store (ADR 0016), "
    "which KurrentDB cannot do (its events go only at a scavenge): the feed of consent's "
    "erasures (the worker, or BVB_IDENTITY_EMBEDDED_FEED) needs identity on sqlite or postgres"
)


class IdentitySettings(PlatformSettings):
    # The secret of the keyed hashes that stand for a СНИЛС and for a name with a birth date is
    # kept by the key store (`adapters.pseudonym_key`), made on first use. A key set the old way
    # (`BVB_IDENTITY_PSEUDONYM_KEY`, 32 random bytes, base64, or the development file under var/)
    # is taken over once, so that existing reservations keep matching; it must never change.
    identity_pseudonym_key: SecretStr | None = None
    # The PostgreSQL schema of the store (`BVB_EVENT_STORE=postgres`), or its namespace in
    # KurrentDB (`kurrentdb`): one per service.
    identity_store_schema: str = POSTGRES_SCHEMA
    # Load the Leningrad oblast 2019 demo data when the store is empty (the embedded host does).
    identity_demo_data: bool = False
    # Follow the consent service's store in-process (embedded) for `ParticipantErased`, rather
    # than leaving it to the worker (`python -m bilet_identity.worker`, distributed).
    identity_embedded_feed: bool = True
    # How much younger or older than usual (grade + 5 or + 6 on 1 September) a pupil may be
    # registered in a grade; outside it, 422 `birth_date_implausible_for_grade` (docs/adr/0041).
    identity_grade_age_years_younger: int = Field(default=1, ge=0, le=5)
    identity_grade_age_years_older: int = Field(default=2, ge=0, le=8)
    # Where the worker serves its Prometheus metrics (`/metrics` on this port; 0: none).
    identity_worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    # Wrong binding codes an account, and a source address, may try per window before every
    # attempt of it is refused with 429 `too_many_attempts` (docs/adr/0053).
    identity_code_failures_per_account: int = Field(default=5, ge=1, le=100)
    identity_code_failures_per_source: int = Field(default=30, ge=1, le=10_000)
    identity_code_failure_window_seconds: int = Field(default=900, ge=10, le=86_400)
    # Guardians' codes handed over with the consent (the development path, docs/adr/0053).
    # Unset: on in development, off in production, where the identity provider's verified
    # identity (ЕСИА) stands in for them; an operator may turn them on as a paper fallback.
    identity_guardian_codes: bool | None = None

    @model_validator(mode="after")
    def _erasures_can_be_carried_out(self) -> "IdentitySettings":
        if self.event_store == "kurrentdb" and self.identity_embedded_feed:
            raise ValueError(KURRENTDB_CANNOT_ERASE)
        return self

    @property
    def guardian_codes_enabled(self) -> bool:
        if self.identity_guardian_codes is not None:
            return self.identity_guardian_codes
        return self.environment is Environment.DEVELOPMENT

    @property
    def pseudonym_key_path(self) -> Path:
        return self.var_dir / f"{SERVICE_NAME}-pseudonym.key"
