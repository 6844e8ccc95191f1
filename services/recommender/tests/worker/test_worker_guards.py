"""The worker's guards against losing a record (ADR 0085) that need no broker: the topics it
declares before faust starts are the ones faust would create, configured as faust would; a
failure ends the process with its reason logged, without faust's shutdown; a record faust skipped
is released but not counted as acknowledged."""

import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from unittest.mock import AsyncMock, patch

import faust
import pytest
from faust import streams
from faust.transport.drivers.aiokafka import Transport
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from mode.threads import ServiceThread
from mode.utils.times import want_seconds
from pydantic import ValidationError

from bilet_recommender.worker import WorkerSettings, create_app
from bilet_recommender.worker_guards import (
    EXIT_ON_FAILURE,
    FetchWaitThread,
    GuardedApp,
    StaleAcksRefused,
    topic_config,
)


@pytest.fixture
def unstarted_threads() -> Iterator[list[ServiceThread]]:
    """Consumer threads a test builds but never starts: mode gives each a loop of its own, which
    only the thread's own end closes. Left open, the loop goes to the garbage collector, which
    finalises its cycle in no set order: the loop's self-pipe socket can be closed first, and the
    loop's `__del__` then fails (`Invalid file descriptor: -1`) in whatever later test is
    running, an unraisable exception that fails it."""
    threads: list[ServiceThread] = []
    yield threads
    for thread in threads:
        thread.thread_loop.close()


async def test_the_declared_topics_are_the_repartitions_and_changelogs_as_faust_makes_them() -> (
    None
):
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
        "guarded-insight-weeks-changelog",
    ]

    # What faust itself would ask its producer to create, declaring each of those topics.
    topics = [*worker_app.repartitions]
    topics += [table.changelog_topic for table in worker_app.app.tables.values()]
    asked: dict[str, dict[str, Any]] = {}

    class Recorder:
        async def create_topic(self, topic: str, **options: Any) -> None:
            asked[topic] = options

    for topic in topics:
        with patch.object(type(topic), "_get_producer", AsyncMock(return_value=Recorder())):
            await topic.declare()
    assert sorted(asked) == sorted(declared)
    for name, options in asked.items():
        retention = options["retention"]
        config = Transport._topic_config(
            None,  # type: ignore[arg-type]  # faust's method uses nothing of its instance
            retention=int(want_seconds(retention) * 1000) if retention else None,
            compacting=options["compacting"],
            deleting=options["deleting"],
        )
        config.update(options["config"] or {})
        new = declared[name]
        assert (new.num_partitions, new.replication_factor) == (5, 2)
        assert (options["partitions"], options["replication"]) == (5, 2)
        assert new.topic_configs == {key: str(value) for key, value in config.items()}, name
    # The windows never expire (ADR 0048), so their changelog is compacted and deleted by the
    # broker's retention, as faust makes it; the evidence is kept compacted.
    assert declared["guarded-evidence-changelog"].topic_configs == {"cleanup.policy": "compact"}
    assert declared["guarded-insight-weeks-changelog"].topic_configs == {
        "cleanup.policy": "compact,delete"
    }
    assert declared["guarded-facts-by-participant"].topic_configs == {}


def test_a_retention_and_a_topics_own_config_are_declared_as_faust_would() -> None:
    app = faust.App("guarded-config", broker="kafka://127.0.0.1:1")
    topic = app.topic(
        "kept", partitions=3, retention=3600.0, deleting=True, config={"min.insync.replicas": 2}
    )
    assert topic_config(topic) == {
        "cleanup.policy": "delete",
        "retention.ms": "3600000",
        "min.insync.replicas": "2",
    }


def test_every_agent_fails_into_the_guarded_handler() -> None:
    """faust hands an agent's crash to the app's `_on_agent_error` (its default commits the
    offsets): the worker's app overrides it, and faust must still wire it to each agent."""
    app = create_app(WorkerSettings(kafka_bootstrap="127.0.0.1:1")).app
    assert isinstance(app, GuardedApp)
    assert app.agents
    for agent in app.agents.values():
        handler = agent._on_error
        assert handler.__func__ is GuardedApp._on_agent_error


FAILING = """
import atexit
from bilet.logs import configure_logging
from bilet_recommender.worker_guards import exit_at_once
configure_logging()
atexit.register(print, "an exit handler ran", flush=True)
try:
    try:
        raise RuntimeError("the read model is gone")
    except RuntimeError:
        exit_at_once("the insights agent failed on a record")
finally:
    print("a finally ran", flush=True)
print("never reached", flush=True)
"""


def test_a_failure_exits_at_once_with_its_reason_logged() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own program
        [sys.executable, "-c", FAILING], capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == EXIT_ON_FAILURE, output
    # Nothing after the failure runs: no code of the caller, no exit handler (faust's shutdown
    # hangs off those), as under a SIGKILL.
    for ran in ("never reached", "a finally ran", "an exit handler ran"):
        assert ran not in output
    assert "the insights agent failed on a record" in output
    assert "the read model is gone" in output


async def test_a_record_skipped_in_a_rebalance_or_from_an_older_generation_is_not_counted(
    unstarted_threads: list[ServiceThread],
) -> None:
    """faust's stream acknowledges a record it skips: one taken while a rebalance suspends the
    flow, or fetched in an older generation. After the rebalance faust seeks back to the
    committed offsets and the record comes again, so its skipped copy must not move a commit
    past it (ADR 0090). The worker's real consumer, no broker needed: acknowledging is
    bookkeeping."""
    app = create_app(WorkerSettings(kafka_bootstrap="127.0.0.1:1")).app
    consumer = app.consumer
    assert isinstance(consumer, StaleAcksRefused)
    unstarted_threads.append(consumer._thread)
    tp = TP("bilet.consent", 0)
    # What faust's conductor does when the consumer subscribes (it needs the broker).
    app.topics.acking_topics.add(tp.topic)

    def taken(offset: int, generation: int) -> ConsumerMessage:
        message = ConsumerMessage(
            tp.topic,
            tp.partition,
            offset,
            0.0,
            0,
            [],
            b"k",
            b"v",
            None,
            1,
            1,
            tp,
            generation_id=generation,
        )
        consumer.track_message(message)
        return message

    # Given the group's generation 3, the flow running
    app.consumer_generation_id = 3
    app.flow_control.resume()
    # When a record of this generation is acknowledged, then it counts
    assert taken(5, 3).ack(consumer)
    # When a record fetched in generation 2 is acknowledged, then it is released, not counted
    stale = taken(6, 2)
    assert not stale.ack(consumer)
    # When a rebalance suspends the flow, then nothing acknowledged counts
    app.flow_control.suspend()
    suspended = taken(7, 3)
    assert not suspended.ack(consumer)
    assert consumer._acked[tp] == [5]
    # and nothing waits for the released records (faust waits for its records to be
    # acknowledged before it gives partitions up)
    assert not consumer._unacked_messages
    assert stale.acked
    assert suspended.acked
    # When the next record of the running flow comes, then the commit stops before the
    # skipped ones: they are delivered again
    app.flow_control.resume()
    assert taken(8, 3).ack(consumer)
    assert consumer._new_offset(tp) == 6


def test_faust_runs_its_compiled_stream_iterator() -> None:
    """The compiled iterator never acknowledges a record it skips; the pure-Python one does and
    leans on `StaleAcksRefused` (ADR 0090). Which one runs decides where the guard matters: a
    change of faust's wheel or of the platform must be noticed."""
    assert getattr(streams, "_CStreamIterator", None) is not None


async def test_the_consumer_long_polls_for_the_workers_fetch_wait(
    unstarted_threads: list[ServiceThread],
) -> None:
    """faust fixes its Kafka consumer's `fetch_max_wait_ms` at 1.5 s, and a record arriving on a
    partition a fetch left out waits that long (ADR 0091): the worker's consumer thread builds
    the consumer with `BVB_RECOMMENDER_WORKER_FETCH_WAIT` instead. No broker: built, not
    started."""
    app = create_app(
        WorkerSettings(kafka_bootstrap="127.0.0.1:1", recommender_worker_fetch_wait=0.05)
    ).app
    consumer = app.consumer
    assert isinstance(consumer, StaleAcksRefused)
    unstarted_threads.append(consumer._thread)
    thread = consumer._new_consumer_thread()
    unstarted_threads.append(thread)
    assert isinstance(thread, FetchWaitThread)
    transport = app.transport
    assert isinstance(transport, Transport)
    built = thread._create_worker_consumer(transport)
    await built.stop()  # never started: closed all the same, as its own check wants
    assert built._fetch_max_wait_ms == 50
    # What faust alone would have built, so the test fails if the override stops applying.
    plain = super(FetchWaitThread, thread)._create_worker_consumer(transport)
    await plain.stop()
    assert plain._fetch_max_wait_ms == 1500


def test_a_bad_feed_setting_stops_the_worker_before_faust_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The read side's feeds are built in a task once faust runs: their settings are read when the
    # app is made, so a bad value refuses the worker at start, not its read side later (ADR 0096).
    monkeypatch.setenv("BVB_PROJECTION_FEED_FETCH_WAIT", "soon")
    with pytest.raises(ValidationError, match="fetch_wait"):
        create_app(WorkerSettings(kafka_bootstrap="127.0.0.1:1"))
