"""The consumer's fast decoder says exactly what the contract's `from_record` says, for well-formed
records of every shape and for broken ones."""

import json
import random
import string
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bilet.contracts.cloudevents import from_record, to_record
from bilet.eventstore import RecordedEvent
from bilet.projections.decode import decode

ALPHABET = string.ascii_letters + string.digits + ' "\\/\n\tёжЁ€😀<>&'


def text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(longest + 1)))


def event(rng: random.Random) -> RecordedEvent:
    metadata: dict[str, object] = {}
    for key in ("correlation_id", "causation_id", "actor", "actor_role", "traceparent"):
        if rng.random() < 0.6:
            metadata[key] = text(rng)
    if rng.random() < 0.8:
        metadata["schema_version"] = rng.randrange(1, 5)
    if rng.random() < 0.3:
        metadata["tracestate"] = text(rng)
    if rng.random() < 0.2:
        metadata["not_an_extension"] = text(rng)  # stored, but not carried on Kafka
    zone = rng.choice([UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5))])
    return RecordedEvent(
        stream_id=f"participant-{text(rng, 6)}",
        version=rng.randrange(10_000),
        position=rng.randrange(1 << 50),
        event_id=uuid.UUID(int=rng.getrandbits(128)),
        type=rng.choice(["ParticipantRegistered", "StageCompleted", text(rng)]),
        data=json.dumps({"v": text(rng)}).encode(),
        metadata=json.dumps(metadata).encode(),
        recorded_at=datetime(2026, 1, 1, tzinfo=zone)
        + timedelta(microseconds=rng.randrange(1 << 40)),
    )


def test_given_many_well_formed_records_then_decode_and_from_record_agree() -> None:
    rng = random.Random(20260301)
    for _ in range(3000):
        record = to_record(event(rng), rng.choice(["identity", "consent"]))
        if rng.random() < 0.1:
            record.headers.append(("not-cloudevents", b"\xff\xfe"))
        assert (
            decode(record.value, record.headers) == from_record(record.value, record.headers).event
        )


@pytest.mark.parametrize(
    "breakage",
    [
        ("drop", "ce_id"),
        ("drop", "ce_subject"),
        ("drop", "ce_specversion"),
        ("set", "ce_specversion", b"0.3"),
        ("set", "ce_streamversion", b"five"),
        ("set", "ce_position", b"\xff"),
        ("set", "ce_id", b"not-a-uuid"),
        ("set", "ce_time", b"yesterday"),
        ("set", "ce_schemaversion", b"one"),
        ("set", "ce_actor", b"\xc3"),
    ],
)
def test_given_a_broken_record_then_both_refuse_it_alike(breakage: tuple[object, ...]) -> None:
    record = to_record(event(random.Random(5)), "identity")
    action, name = breakage[0], breakage[1]
    headers = [(n, v) for n, v in record.headers if n != name]
    if action == "set":
        headers.append((str(name), breakage[2]))  # type: ignore[arg-type]
    # NotACloudEvent, except where the contract lets a UnicodeDecodeError through (a header
    # it decodes before its checks); the feed dead-letters any ValueError as malformed.
    with pytest.raises(ValueError, match=r".") as contract:
        from_record(record.value, headers)
    with pytest.raises(ValueError, match=r".") as fast:
        decode(record.value, headers)
    assert type(fast.value) is type(contract.value)
    assert str(fast.value) == str(contract.value)


def test_given_no_value_then_the_data_is_empty_as_the_contract_says() -> None:
    record = to_record(event(random.Random(9)), "identity")
    assert decode(None, record.headers) == from_record(None, record.headers).event
