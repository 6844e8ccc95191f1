"""The projection process of the distributed mode: `python -m bilet_consent.worker`.

Feeds the consent service's read model of participants' facts from Kafka: identity's topic
(`bilet.identity`: school, region, grade) and the service's own (`bilet.consent`: the erasure
schedule and the consents the lists show), with the same projection the embedded mode feeds
in-process. Runs until SIGTERM/SIGINT.
"""

import sys
from typing import Final

from bilet.facts.worker import ProjectionWorker
from bilet_consent.application.participants import ParticipantFactsProjection
from bilet_consent.settings import SERVICE_NAME, ConsentSettings

TOPICS: Final = ("bilet.identity", "bilet.consent")
GROUP: Final = "bilet.consent.participants"

WORKER: Final = ProjectionWorker[ConsentSettings](
    SERVICE_NAME,
    ParticipantFactsProjection(),
    TOPICS,
    GROUP,
    lambda settings: settings.consent_worker_metrics_port,
)
build_feed = WORKER.build_feed
run = WORKER.run


def main() -> int:
    return WORKER.main(lambda: ConsentSettings(consent_embedded_feed=False))


if __name__ == "__main__":
    sys.exit(main())
