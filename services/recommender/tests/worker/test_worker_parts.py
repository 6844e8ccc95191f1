"""The faust worker's parts that need no broker: the repartition key, the redelivery guard of its
table, the kernel's Kafka security as faust's credentials, and what it opens before its first
batch."""

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import AuthProtocol

from bilet.kafka import KafkaConnection
from bilet_recommender.adapters.issuing_batch import KeptCatalogue
from bilet_recommender.domain.evidence import initial
from bilet_recommender.worker import (
    NO_PARTICIPANT,
    Held,
    Resources,
    WorkerSettings,
    broker_credentials,
    participant_key,
)


def test_the_repartition_key_is_the_participant_or_none() -> None:
    pid = uuid4()
    assert participant_key(f'{{"participant_id": "{pid}", "grade": 8}}'.encode()) == str(pid)
    assert participant_key(b'{"career_event_id": "x"}') == NO_PARTICIPANT
    assert participant_key(b"not json") == NO_PARTICIPANT


def test_a_fact_at_or_below_its_stream_version_is_a_redelivery() -> None:
    held = Held(evidence=initial(uuid4()))
    assert held.first_delivery("consent-1", 0)
    after = Held.model_validate_json(held.after("consent-1", 3, held.evidence))
    assert not after.first_delivery("consent-1", 3)
    assert not after.first_delivery("consent-1", 2)
    assert after.first_delivery("consent-1", 4)
    assert after.first_delivery("participant-1", 0)


def test_plaintext_needs_no_credentials() -> None:
    assert broker_credentials(KafkaConnection("127.0.0.1:9092")) is None


def test_scram_over_tls_becomes_sasl_ssl_credentials(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n", encoding="utf-8")
    credentials = broker_credentials(
        KafkaConnection(
            "kafka:9093",
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="recommender",
            sasl_password_file=secret,
        )
    )
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol == AuthProtocol.SASL_SSL
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("recommender", "s3cret")


def test_tls_alone_becomes_ssl_credentials() -> None:
    credentials = broker_credentials(KafkaConnection("kafka:9093", security_protocol="SSL"))
    assert isinstance(credentials, SSLCredentials)


async def test_given_a_fresh_read_model_when_the_worker_opens_then_its_catalogue_reads_at_once(
    tmp_path: Path,
) -> None:
    # The first batch can come before the read side's feed has installed the catalogue's tables:
    # the issuing step must find them (empty), not fail and end the worker (ADR 0085).
    settings = WorkerSettings(
        var_dir=tmp_path,
        kafka_bootstrap="127.0.0.1:9",
        event_store="sqlite",
        read_model="sqlite",
        key_store="sqlite",
    )
    resources = Resources(settings)
    store, keys, read_model, _issuing = await resources.get()
    catalogue = KeptCatalogue(read_model)  # what the worker's batches read through
    try:
        await catalogue.next_batch()
        offers = await catalogue.opportunities(uuid4(), [uuid4()], datetime(2020, 1, 1, tzinfo=UTC))
        assert (offers.offers, offers.environments_of) == ((), ())
    finally:
        catalogue.close()
        await read_model.close()
        await keys.close()
        await store.close()
