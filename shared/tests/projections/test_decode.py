"""The consumer's fast decoder says exactly what the contract's `from_record` says, for well-formed
records of every shape and for broken ones; the decoder of declared fields says the same of what
it decodes, refuses what the contract refuses for want of an attribute, and makes every other
field fail when read."""

import json
import random
import string
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bilet.contracts.cloudevents import NotACloudEvent, from_record, to_record
from bilet.eventstore import RecordedEvent
from bilet.projections.decode import (
    EVENT_FIELDS,
    RUNTIME_FIELDS,
    Decoder,
    UndeclaredEventField,
    decode,
    decoder_for,
)

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
    assert_refused_alike(decode, breakage)


def assert_refused_alike(decoder: Decoder, breakage: tuple[object, ...]) -> None:
    """A record broken as `breakage` says ("drop" a header, or "set" one to a value) is refused
    by `decoder` with the very error of the contract's `from_record`."""
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
        decoder(record.value, headers)
    assert type(fast.value) is type(contract.value)
    assert str(fast.value) == str(contract.value)


@pytest.mark.parametrize("fields", [None, frozenset({"type"})], ids=["every field", "type"])
def test_given_a_header_named_twice_then_the_last_one_counts_as_in_the_contract(
    fields: frozenset[str] | None,
) -> None:
    # Decoders read by position, once per order of header names (ADR 0082): a name given twice
    # must still mean what a dict of the headers says, the last one.
    decoder = decoder_for(fields)
    rng = random.Random(11)
    for name in ("ce_subject", "ce_streamversion", "ce_position", "ce_type", "ce_actor"):
        record = to_record(event(rng), "identity")
        for headers in (record.headers, [*record.headers, (name, b"42")]):
            full = from_record(record.value, headers).event
            decoded = decoder(record.value, headers)
            for field in RUNTIME_FIELDS | (fields or EVENT_FIELDS):
                assert getattr(decoded, field) == getattr(full, field), (name, field)


def test_given_an_attribute_header_without_a_value_then_the_record_is_no_cloudevent() -> None:
    # Kafka allows a header with a null value. The contract refuses the record (it is
    # dead-lettered), and the fast decoder must not read it as an event without that attribute
    # (a missing schema version would upcast it as another version).
    record = to_record(event(random.Random(12)), "identity")
    names = [name for name, _ in record.headers if name.startswith("ce_") and name != "ce_source"]
    assert "ce_schemaversion" in names
    for name in names:
        headers = [(n, None if n == name else raw) for n, raw in record.headers]
        with pytest.raises(NotACloudEvent, match=name):
            from_record(record.value, headers)  # type: ignore[arg-type]
        with pytest.raises(NotACloudEvent, match=name):
            decode(record.value, headers)  # type: ignore[arg-type]


def test_given_no_value_then_the_data_is_empty_as_the_contract_says() -> None:
    record = to_record(event(random.Random(9)), "identity")
    assert decode(None, record.headers) == from_record(None, record.headers).event


# ------------------------------------------------------------------ declared fields (ADR 0067)

DECLARED = [
    frozenset(),
    frozenset({"type"}),
    frozenset({"type", "data"}),
    frozenset({"event_id", "recorded_at"}),
    frozenset({"metadata"}),
]


@pytest.mark.parametrize("fields", DECLARED, ids=lambda fields: "+".join(sorted(fields)) or "none")
def test_given_declared_fields_then_those_and_the_runtimes_are_the_contracts(
    fields: frozenset[str],
) -> None:
    decode_declared = decoder_for(fields)
    rng = random.Random(20260302)
    for _ in range(500):
        record = to_record(event(rng), "identity")
        full = from_record(record.value, record.headers).event
        partial = decode_declared(record.value, record.headers)
        assert isinstance(partial, RecordedEvent)
        for name in RUNTIME_FIELDS | fields:
            assert getattr(partial, name) == getattr(full, name), name
        for name in EVENT_FIELDS - RUNTIME_FIELDS - fields:
            with pytest.raises(UndeclaredEventField, match=name):
                getattr(partial, name)
        assert partial.category == full.category


def test_given_a_partial_event_then_replace_keeps_what_was_not_decoded_unreadable() -> None:
    record = to_record(event(random.Random(3)), "identity")
    partial = decoder_for({"type"})(record.value, record.headers)
    moved = partial._replace(version=partial.version + 1)
    assert moved.version == partial.version + 1
    assert moved.type == partial.type
    with pytest.raises(UndeclaredEventField):
        _ = moved.data
    assert moved._asdict()["data"] is None


def test_given_every_field_or_no_declaration_then_the_full_decoder_is_used() -> None:
    assert decoder_for(None) is decode
    assert decoder_for(EVENT_FIELDS) is decode


def test_given_a_field_that_does_not_exist_then_the_declaration_is_refused() -> None:
    with pytest.raises(ValueError, match="payload"):
        decoder_for({"type", "payload"})


@pytest.mark.parametrize(
    "breakage",
    [
        ("drop", "ce_id"),
        ("drop", "ce_time"),
        ("drop", "ce_subject"),
        ("drop", "ce_specversion"),
        ("set", "ce_specversion", b"0.3"),
        ("set", "ce_streamversion", b"five"),
        ("set", "ce_position", b"\xff"),
        ("set", "ce_type", b"\xc3"),
    ],
)
def test_given_a_broken_record_then_the_declared_decoder_refuses_it_as_the_contract_does(
    breakage: tuple[object, ...],
) -> None:
    assert_refused_alike(decoder_for({"type"}), breakage)


def test_given_a_malformed_attribute_it_does_not_decode_then_it_is_not_checked() -> None:
    # What ADR 0067 accepts: only the decoded attributes are parsed.
    record = to_record(event(random.Random(7)), "identity")
    headers = [(n, b"not-a-uuid" if n == "ce_id" else v) for n, v in record.headers]
    partial = decoder_for({"type"})(record.value, headers)
    assert partial.type == from_record(record.value, record.headers).event.type
