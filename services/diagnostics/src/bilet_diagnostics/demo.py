"""The demo data of `make run` (filled in below)."""

from bilet_diagnostics.runtime import Runtime
from bilet_diagnostics.settings import DiagnosticsSettings


async def load_demo_data(runtime: Runtime, settings: DiagnosticsSettings) -> int:
    return 0
