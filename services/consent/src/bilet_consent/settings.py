"""Settings of the consent service: the platform's `BVB_*` settings and its own."""

from pathlib import Path
from typing import Final, Literal

from pydantic import Field

from bilet.sandbox import SandboxLimits
from bilet.settings import PlatformSettings
from bilet_consent.application.formats import DisarmLimits
from bilet_consent.domain.internal import FEDERAL_OPERATOR

SERVICE_NAME: Final = "consent"
POSTGRES_SCHEMA: Final = "bvb_consent"
MIB: Final = 1 << 20


class ConsentSettings(PlatformSettings):
    # The largest signed document accepted (`BVB_CONSENT_MAX_DOCUMENT_BYTES`); the request body
    # may be a little larger (the form fields and the multipart framing).
    consent_max_document_bytes: int = Field(default=10 * MIB, ge=1024, le=100 * MIB)
    # Content disarm (ADR 0015): a PDF's pages are rendered at this resolution and rebuilt from
    # the pictures; more pages, or a page or image of more megapixels, are refused.
    consent_document_dpi: int = Field(default=150, ge=72, le=300)
    consent_document_max_pages: int = Field(default=20, ge=1, le=200)
    consent_document_max_megapixels: int = Field(default=40, ge=1, le=200)
    # The sandbox that decodes uploads: CPU seconds and address space of one decoding process,
    # its wall-clock limit, how many run at once (further uploads wait their turn), and how many
    # may wait (one more is answered 503 `document_check_busy`, not held in memory).
    consent_sandbox_cpu_seconds: int = Field(default=20, ge=1, le=600)
    consent_sandbox_memory_mib: int = Field(default=1024, ge=256, le=16384)
    consent_sandbox_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    consent_sandbox_concurrency: int = Field(default=2, ge=1, le=64)
    consent_sandbox_max_waiting: int = Field(default=8, ge=0, le=1024)
    # Days between a withdrawal and the destruction of the participant's data (152-FZ: 30).
    consent_erasure_days: int = Field(default=30, ge=0, le=30)
    # How often the destruction job runs inside the HTTP process (it also runs once at start).
    consent_erasure_interval_seconds: float = Field(default=3600.0, gt=0)
    # Where the signed documents are kept: files under var/ (embedded) or a table in the
    # service's PostgreSQL schema (production). Defaults to follow the event store (with
    # KurrentDB, which keeps events only, the read model).
    consent_document_store: Literal["disk", "postgres"] | None = None
    # The PostgreSQL schema of the event store and of the documents table.
    consent_store_schema: str = POSTGRES_SCHEMA
    # Load consents for identity's Leningrad oblast 2019 demo pupils (the embedded host does).
    consent_demo_data: bool = False
    # Follow identity's store in-process (embedded) rather than leaving the read model to the
    # worker (`python -m bilet_consent.worker`, distributed).
    consent_embedded_feed: bool = True
    # The operator of the personal data, as destruction records name it (`BVB_CONSENT_OPERATOR`).
    consent_operator: str = Field(default=FEDERAL_OPERATOR, min_length=1, max_length=200)
    # Where the worker serves its Prometheus metrics (`/metrics` on this port; 0: none).
    consent_worker_metrics_port: int = Field(default=9101, ge=0, le=65535)

    @property
    def document_store_kind(self) -> Literal["disk", "postgres"]:
        if self.consent_document_store is not None:
            return self.consent_document_store
        if self.event_store == "kurrentdb":
            return "postgres" if self.read_model_kind == "postgres" else "disk"
        return "postgres" if self.event_store == "postgres" else "disk"

    @property
    def documents_dir(self) -> Path:
        return self.var_dir / f"{SERVICE_NAME}-documents"

    @property
    def disarm_limits(self) -> DisarmLimits:
        return DisarmLimits(
            dpi=self.consent_document_dpi,
            max_pages=self.consent_document_max_pages,
            max_pixels=self.consent_document_max_megapixels * 1_000_000,
        )

    @property
    def sandbox_limits(self) -> SandboxLimits:
        return SandboxLimits(
            cpu_seconds=self.consent_sandbox_cpu_seconds,
            memory_bytes=self.consent_sandbox_memory_mib * MIB,
            wall_seconds=self.consent_sandbox_timeout_seconds,
            # A rebuilt PDF may outgrow its upload (pictures of pages): room for that.
            max_output_bytes=max(64 * MIB, 4 * self.consent_max_document_bytes),
            concurrency=self.consent_sandbox_concurrency,
            max_waiting=self.consent_sandbox_max_waiting,
        )

    @property
    def max_body_bytes(self) -> int:
        # Room for the form fields and the multipart framing around the document.
        return self.consent_max_document_bytes + 64 * 1024
