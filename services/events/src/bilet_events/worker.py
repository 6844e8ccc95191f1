"""The projection process of the distributed mode: `python -m bilet_events.worker`.

Feeds the events service's read model (`adapters/facts.py`) from Kafka: identity's topic
(`bilet.identity`: season rules, schools, participants and their sealed accessibility needs),
consent's (`bilet.consent`: the consent in force, erasures) and the service's own
(`bilet.events`: career events, seats and the waitlist, for the catalogue), with the same
projection the embedded mode feeds in-process. Runs until SIGTERM/SIGINT.
"""

import sys
from typing import Final

from pydantic import Field

from bilet.facts.worker import ProjectionWorker
from bilet.settings import PlatformSettings
from bilet_events.adapters.facts import FACTS_PROJECTION

SERVICE: Final = "events"
TOPICS: Final = ("bilet.identity", "bilet.consent", "bilet.events")
GROUP: Final = "bilet.events.facts"


class WorkerSettings(PlatformSettings):
    """The platform's `BVB_*` settings and where the worker serves its metrics."""

    # `/metrics` on this port (`BVB_EVENTS_WORKER_METRICS_PORT`; 0: none).
    events_worker_metrics_port: int = Field(default=9101, ge=0, le=65535)


WORKER: Final = ProjectionWorker[WorkerSettings](
    SERVICE,
    FACTS_PROJECTION,
    TOPICS,
    GROUP,
    lambda settings: settings.events_worker_metrics_port,
)
build_feed = WORKER.build_feed
run = WORKER.run


def main() -> int:
    return WORKER.main(WorkerSettings)


if __name__ == "__main__":
    sys.exit(main())
