"""The faust worker's parts that need no broker: the repartition key, the redelivery guard of its
table, and the kernel's Kafka security as faust's credentials."""

from pathlib import Path
from uuid import uuid4

from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import AuthProtocol

from bilet.kafka import KafkaConnection
from bilet_recommender.domain.evidence import initial
from bilet_recommender.worker import NO_PARTICIPANT, Held, broker_credentials, participant_key


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
