"""The worker's guards against losing a record (ADR 0085) that need no broker: the topics it
declares before faust starts are the ones faust would create, configured as faust would; a
failure ends the process with its reason logged, without faust's shutdown."""

import subprocess
import sys

from faust.transport.drivers.aiokafka import Transport

from bilet_recommender.worker import WorkerSettings, create_app
from bilet_recommender.worker_guards import EXIT_ON_FAILURE


def test_the_declared_topics_are_the_repartitions_and_changelogs_as_faust_makes_them() -> None:
    settings = WorkerSettings(
        kafka_bootstrap="127.0.0.1:1",
        recommender_worker_app_id="guarded",
        recommender_worker_partitions=5,
        recommender_worker_topic_replicas=2,
    )
    worker_app = create_app(settings)
    declared = worker_app.own_topics()

    assert sorted(declared) == [
        "guarded-evidence-changelog",
        "guarded-facts-by-participant",
        "guarded-insight-facts-by-participant",
        "guarded-insight-weeks-changelog",
    ]
    assert {(t.num_partitions, t.replication_factor) for t in declared.values()} == {(5, 2)}
    # What faust's own transport would configure each changelog with.
    for table in worker_app.app.tables.values():
        topic = table.changelog_topic
        (name,) = topic.topics
        expected = Transport._topic_config(
            None,  # type: ignore[arg-type]  # faust's method uses nothing of its instance
            retention=None,
            compacting=topic.compacting,
            deleting=topic.deleting,
        )
        assert declared[name].topic_configs == {k: str(v) for k, v in expected.items()}
    # The windows never expire (ADR 0048), so their changelog is compacted, deleted by the
    # broker's own retention only as faust does it; the evidence is kept compacted.
    assert declared["guarded-evidence-changelog"].topic_configs == {"cleanup.policy": "compact"}
    assert declared["guarded-insight-weeks-changelog"].topic_configs == {
        "cleanup.policy": "compact,delete"
    }
    assert declared["guarded-facts-by-participant"].topic_configs == {}


FAILING = """
import logging, sys
from bilet.logs import configure_logging
from bilet_recommender.worker_guards import exit_at_once
configure_logging()
try:
    raise RuntimeError("the read model is gone")
except RuntimeError:
    exit_at_once("the insights agent failed on a record")
print("never reached", flush=True)
"""


def test_a_failure_exits_at_once_with_its_reason_logged() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own program
        [sys.executable, "-c", FAILING], capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == EXIT_ON_FAILURE, output
    assert "never reached" not in output
    assert "the insights agent failed on a record" in output
    assert "the read model is gone" in output
