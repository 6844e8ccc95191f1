"""The projection process of the distributed mode: `python -m bilet_diagnostics.worker`.

Feeds the diagnostics service's read model of facts (`adapters/facts.py`) from Kafka: identity's
topic (`bilet.identity`: seasons, regions, windows, schools, participants), consent's
(`bilet.consent`: the consent in force, erasures) and the service's own (`bilet.diagnostics`:
stages started and completed, for the schools' progress), with the same projection the embedded
mode feeds in-process. Runs until SIGTERM/SIGINT.
"""

import sys
from typing import Final

from pydantic import Field

from bilet.facts.worker import ProjectionWorker
from bilet.settings import PlatformSettings
from bilet_diagnostics.adapters.facts import FACTS_PROJECTION

SERVICE: Final = "diagnostics"
TOPICS: Final = ("bilet.identity", "bilet.consent", "bilet.diagnostics")
GROUP: Final = "bilet.diagnostics.facts"


class WorkerSettings(PlatformSettings):
    """The platform's `BVB_*` settings and where the worker serves its metrics."""

    # `/metrics` on this port (`BVB_DIAGNOSTICS_WORKER_METRICS_PORT`; 0: none).
    diagnostics_worker_metrics_port: int = Field(default=9101, ge=0, le=65535)


WORKER: Final = ProjectionWorker[WorkerSettings](
    SERVICE,
    FACTS_PROJECTION,
    TOPICS,
    GROUP,
    lambda settings: settings.diagnostics_worker_metrics_port,
)
build_feed = WORKER.build_feed
run = WORKER.run


def main() -> int:
    return WORKER.main(WorkerSettings)


if __name__ == "__main__":
    sys.exit(main())
