"""What keeps the faust worker from losing a record (ADR 0085): its own topics declared before
faust starts, and a record whose processing fails ending the process.

Why both, from a run of the parity test under load (ADR 0085):
- faust creates its internal topics (the repartition topics of `group_by`, each table's
  changelog) while its services start, at the moment its consumer joins the group. The group
  coordinator keeps the partition counts of the subscribed topics as they were at the join
  (aiokafka's metadata snapshot, what faust's `topic_partitions` reads); a changelog created a
  moment before is in it with 0 partitions until the next rebalance, and the first table access
  fails faust's check of the changelog against its source (`PartitionsMismatch`). So the worker
  creates these topics itself, as faust would (partitions, replicas, cleanup policy, retention),
  and waits until each partition has a leader before faust starts; faust then finds them.
- When an agent's body raises, faust acknowledges the record it was processing (the stream's
  `finally` acks it as the generator closes), restarts the agent and commits that offset (its
  agents' error handler, `App._on_agent_error`, commits): the record is lost for good. In the
  run above, the insights agent lost the first mark it took, and the insights never converged.
  A failure is therefore logged and the process exits at once, without faust's shutdown, as a
  SIGKILL would: nothing more is acknowledged or committed, the orchestrator restarts the
  worker, and Kafka delivers again from the last commit (at least once; every output of the
  agents is idempotent). The agents catch their own failures; `GuardedApp` catches the rest
  (a failed forward to a repartition topic, a failed batch buffer), which reach faust's handler.
- A record no contract can read (not a CloudEvent, data no version of its type accepts) would
  fail again on every delivery, and exiting on it would stop the worker for good: it is left
  aside with its place logged (never its content). The read side's kernel feed of the same
  topics dead-letters it (ADR 0008).
- A record faust skips without processing it is not acknowledged (`StaleAcksRefused`, ADR
  0090). During a rebalance (flow control suspended), and for a record fetched before the last
  one (an older consumer generation), faust's stream skips the record and acknowledges it.
  After every rebalance, faust's recovery seeks back to the committed offsets and the record
  comes again. But the consumer forgot the partition's acknowledged offsets and its committed
  offset at the revocation, so the skipped record's offset counts: the next commit can pass
  the record while its new delivery is still waiting, and a worker killed then never takes it.
  Such an acknowledgement is therefore refused: the record is released (nothing waits for it),
  not counted.
"""

import asyncio
import contextlib
import logging
import os
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, NoReturn, cast

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code
from faust.streams import _current_event
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import AgentT, EventT, Message, TopicT, TransportT
from faust.types.tuples import ack_lock
from mode.utils.futures import notify
from mode.utils.times import want_seconds

from bilet.contracts.cloudevents import NotACloudEvent
from bilet.contracts.registry import ContractError
from bilet.kafka import TOPIC_ALREADY_EXISTS, KafkaConnection, every_partition_led

_log = logging.getLogger(__name__)

# What a topic being created answers until the broker has it whole: asked again.
_NOT_YET: Final = frozenset({0, 3, 5})  # none, unknown topic or partition, leader not available
# sysexits' EX_SOFTWARE: the process ended itself on an internal failure.
EXIT_ON_FAILURE: Final = 70


# Errors of a record that fails the same way on every delivery.
UNREADABLE: Final = (NotACloudEvent, ContractError)


def exit_at_once(what: str, error: BaseException | None = None) -> NoReturn:
    """Log that `what` failed with `error` (default: the exception being handled), flush the
    logs, and end the process without faust's shutdown (which would commit the acknowledged
    offsets)."""
    _log.critical(
        "%s: the worker exits so that Kafka delivers the records again",
        what,
        exc_info=error or True,
    )
    logging.shutdown()
    os._exit(EXIT_ON_FAILURE)


@contextlib.contextmanager
def processing(event: EventT[Any]) -> Iterator[None]:
    """Within it, faust takes `event` for the one being processed (a table's change goes to its
    partition of the changelog): a batch is handled outside faust's per-event iteration."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def left_aside(agent: str, event: EventT[Any], error: Exception) -> None:
    """Log a record no contract reads by its place and the kind of error (its content may hold
    anything: never logged)."""
    message = event.message
    _log.error(
        "a record no contract reads is left aside",
        extra={
            "agent": agent,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "error": type(error).__name__,
        },
    )


class StaleAcksRefused(faust_aiokafka.Consumer):
    """faust's Kafka consumer, refusing to count the acknowledgement of a record its stream
    skipped (see the module's notes): one taken while a rebalance suspends the flow, or fetched
    in an older generation of the group. The record is released as acknowledged, so that
    nothing waits for it (faust waits for its records before it gives partitions up), but its
    offset is not one the next commit may pass: Kafka delivers it again."""

    def ack(self, message: Message) -> bool:
        app = self.app
        if app.flow_control.is_active() and message.generation_id == app.consumer_generation_id:
            return bool(super().ack(message))
        with ack_lock:  # as faust's own `ack`: its bookkeeping is shared with the fetcher thread
            message.acked = True
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
        return False

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return FetchWaitThread(self, loop=self.loop, beacon=self.beacon)


class FetchWaitThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's consumer thread, whose Kafka consumer lets the broker hold a fetch with nothing
    new for the app's `fetch_wait` instead of faust's fixed 1.5 s (ADR 0091)."""

    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands it to its fetcher when the consumer starts; faust offers no setting.
        consumer._fetch_max_wait_ms = round(cast(GuardedApp, self.app).fetch_wait * 1000)
        return consumer


class GuardedApp(faust.App):
    """A faust app whose agents' failures end the process (`exit_at_once`) instead of faust's
    handling, which commits the consumer's offsets and restarts the agent, and whose consumer
    does not count what its streams skipped (`StaleAcksRefused`) and long-polls the broker for
    `fetch_wait` seconds at most (`FetchWaitThread`)."""

    # Seconds; faust's own 1.5 until `create_app` sets the worker's.
    fetch_wait: float = 1.5

    async def _on_agent_error(self, agent: AgentT[Any], exc: BaseException) -> None:
        exit_at_once(f"the agent {agent.name} crashed", exc)

    def _new_transport(self) -> TransportT:
        # The app's brokers are `kafka://` URLs (`create_app`): faust's aiokafka transport.
        return GuardedTransport(self.conf.broker_consumer, self)


class GuardedTransport(faust_aiokafka.Transport):
    """faust's aiokafka transport with the consumer that refuses stale acknowledgements."""

    Consumer = StaleAcksRefused


def topic_config(topic: TopicT) -> dict[str, str]:
    """The configuration faust creates `topic` with (its aiokafka transport's `_topic_config`
    and the topic's own `config`), as strings."""
    config: dict[str, Any] = {}
    policies = sorted(
        name for name, on in (("compact", topic.compacting), ("delete", topic.deleting)) if on
    )
    if policies:
        config["cleanup.policy"] = ",".join(policies)
    if topic.retention:
        config["retention.ms"] = int(want_seconds(topic.retention) * 1000.0)
    config.update(topic.config or {})
    return {name: str(value) for name, value in config.items()}


def new_topics(topics: Iterable[TopicT], partitions: int, replicas: int) -> dict[str, NewTopic]:
    """Each named topic as faust would create it (`partitions` and `replicas`: the app's
    defaults, for a topic that states none)."""
    return {
        name: NewTopic(
            name,
            num_partitions=topic.partitions or partitions,
            replication_factor=topic.replicas or replicas,
            topic_configs=topic_config(topic),
        )
        for topic in topics
        for name in topic.topics
    }


async def declare_topics(
    connection: KafkaConnection, topics: Mapping[str, NewTopic], timeout: float
) -> None:
    """Create the topics that do not exist and wait until every partition of each has a leader.
    A topic that exists with another partition count stops the worker: faust's tables require
    their changelogs and sources to match, and moving a participant's records to another
    partition would break their order."""
    admin = connection.admin(client_id="bilet-recommender-worker-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [new for name, new in topics.items() if name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, message in response.topic_errors:
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise for_code(code)(f"creating topic {name}: {message}")
                if code == 0:
                    _log.info("topic created", extra={"topic": name})
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if await _all_led(admin, topics):
                        break
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise SystemExit(
                f"the worker's topics have no leader for every partition after {timeout:.0f} s: "
                f"{sorted(topics)}"
            ) from None
    finally:
        await admin.close()


async def _all_led(admin: AIOKafkaAdminClient, topics: Mapping[str, NewTopic]) -> bool:
    for described in await admin.describe_topics(list(topics)):
        name, code = described["topic"], described["error_code"]
        if code not in _NOT_YET:
            raise for_code(code)(f"describing topic {name}")
        if code != 0 or not described["partitions"]:
            return False
        expected, found = topics[name].num_partitions, len(described["partitions"])
        if found != expected:
            raise SystemExit(
                f"topic {name} has {found} partitions, the worker needs {expected} "
                "(BVB_RECOMMENDER_WORKER_PARTITIONS must match the partitions it was created with)"
            )
        if not every_partition_led(described):
            return False
    return True
