"""Settings of the diagnostics service: the platform's `BVB_*` settings and its own."""

from typing import Final

from pydantic import Field

from bilet.settings import PlatformSettings

SERVICE_NAME: Final = "diagnostics"
POSTGRES_SCHEMA: Final = "bvb_diagnostics"


class DiagnosticsSettings(PlatformSettings):
    # The PostgreSQL schema of the event store (`BVB_DIAGNOSTICS_STORE_SCHEMA`).
    diagnostics_store_schema: str = POSTGRES_SCHEMA
    # Follow identity's and consent's stores (and its own) in-process (embedded) rather than
    # leaving the facts read model to the worker (`python -m bilet_diagnostics.worker`).
    diagnostics_embedded_feed: bool = True
    # Load the demo's attempts (the embedded host does): completed stages for most of identity's
    # Leningrad oblast 2019 pupils, scored from generated answers.
    diagnostics_demo_data: bool = False
    # How many demo pupils of each school are left without results (the printed pupil is one).
    diagnostics_demo_untested: int = Field(default=5, ge=1, le=1000)
