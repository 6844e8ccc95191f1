"""`ProjectionWorker`: the feed of a service's topics (or of the topics a test names) into its
projection, its read model where the settings say, and no run without Kafka."""

from pathlib import Path

import pytest

from bilet.eventstore import RecordedEvent
from bilet.facts.worker import ProjectionWorker
from bilet.projections import ReadModelTx, Table
from bilet.settings import PlatformSettings


class _Nothing:
    name = "worker_test"
    tables = (Table("worker_test_rows", "id TEXT PRIMARY KEY"),)

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        return None


WORKER = ProjectionWorker[PlatformSettings](
    "somewhere",
    _Nothing(),
    ("bilet.identity", "bilet.somewhere"),
    "bilet.somewhere.facts",
    lambda _: 0,
)


async def test_the_feed_reads_the_services_topics_or_those_a_test_names(tmp_path: Path) -> None:
    settings = PlatformSettings(var_dir=tmp_path, kafka_bootstrap="127.0.0.1:9")
    read_model = await WORKER.open_read_model(settings)
    try:
        feed = WORKER.build_feed(settings, read_model)
        assert (feed.topics, feed.group_id) == (
            ["bilet.identity", "bilet.somewhere"],
            "bilet.somewhere.facts",
        )
        assert feed.sources == {"bilet.identity": "identity", "bilet.somewhere": "somewhere"}
        renamed = WORKER.build_feed(settings, read_model, topics={"t1": "identity"}, group_id="g")
        assert (renamed.topics, renamed.group_id, renamed.sources) == (
            ["t1"],
            "g",
            {"t1": "identity"},
        )
    finally:
        await read_model.close()
    assert (tmp_path / "somewhere-readmodel.sqlite3").exists()


async def test_without_kafka_the_worker_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="BVB_KAFKA_BOOTSTRAP"):
        await WORKER.run(PlatformSettings(var_dir=tmp_path, kafka_bootstrap=None))
