"""The projection worker process (`bilet.projections.worker.serve_feed`), as Kubernetes runs it:
it feeds its read model from real Kafka, serves its metrics, logs JSON lines and stops cleanly
on SIGTERM, closing its Kafka clients; it tunes its garbage collector as its settings say."""

import asyncio
import json
import os
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from bilet.projections import source_of_topic
from bilet.projections.sqlite import SqliteReadModel
from bilet.projections.testing import TopicFactory, expected_counts, history, produce, read_counts

pytestmark = pytest.mark.integration

WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from bilet.logs import configure_logging
    from bilet.projections import KafkaFeed
    from bilet.projections.sqlite import SqliteReadModel
    from bilet.projections.testing import StreamCounter
    from bilet.projections.worker import serve_feed

    bootstrap, topic, path, port = sys.argv[1:5]
    configure_logging()
    sys.exit(asyncio.run(serve_feed(
        lambda: SqliteReadModel.open(Path(path)),
        lambda read_model, metrics: KafkaFeed(
            read_model, StreamCounter(), bootstrap_servers=bootstrap, topics=[topic],
            group_id=f"g-{topic}", metrics=metrics,
        ),
        metrics_port=int(port),
    )))
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_worker_feeds_reports_and_stops_cleanly_on_sigterm(
    tmp_path: Path, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(2)
    events = history(8, 5)
    await produce(kafka_bootstrap, topic, events, service=source_of_topic(topic))
    path, port = tmp_path / "readmodel.sqlite3", _free_port()
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        kafka_bootstrap,
        topic,
        str(path),
        str(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "BVB_PROJECTION_GC_YOUNG": "12345"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert worker.returncode is None, "the worker exited early"
            assert time.monotonic() < deadline, "the worker did not apply the topic in time"
            if path.exists():
                read_model = await SqliteReadModel.open(path)
                try:
                    with_counts = await read_counts(read_model)
                except Exception:
                    with_counts = {}
                finally:
                    await read_model.close()
                if with_counts == expected_counts(events):
                    break
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        applied = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("bilet_projection_events_applied_total")
        ]
        assert sum(applied) == len(events)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, raw_stderr = await asyncio.wait_for(worker.communicate(), 30)
    stderr = raw_stderr.decode()
    assert worker.returncode == 0, stderr
    assert "Unclosed" not in stderr
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in logged]
    assert "projection worker started" in messages
    assert "projection worker stopped" in messages
    # Once started, the worker tuned its collector from the environment (ADR 0074).
    (tuned,) = [line for line in logged if line["message"] == "projection worker collector tuned"]
    assert tuned["gc_thresholds"][0] == 12345
    assert tuned["gc_frozen"] > 0
