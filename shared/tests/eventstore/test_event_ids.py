"""New event ids (`bilet.eventstore.model.new_event_id`, docs/adr/0110): UUIDv7, time first."""

import itertools
import pickle
from uuid import UUID

import pytest

from bilet.eventstore import NewEvent, model


def test_an_event_id_is_a_uuid7_of_its_millisecond_and_random_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a clock at 1,796,700,000,123.456789 ms and a random source of known bytes
    monkeypatch.setattr(model, "_time_ns", lambda: 1_796_700_000_123_456_789)
    monkeypatch.setattr(model, "_urandom", lambda size: bytes(range(0xF0, 0xF0 + size)))

    # When an event is made without an id
    event_id = NewEvent("Happened", b"{}").event_id

    # Then its id is the milliseconds (48 bits), version 7, 12 random bits, the RFC's variant
    # and 62 random bits (the random source's 80 bits, the top 6 dropped)
    assert event_id == UUID("01a253aa-4f7b-73c7-b2f3-f4f5f6f7f8f9")
    assert event_id.version == 7
    assert event_id.variant == "specified in RFC 4122"
    assert event_id.int >> 80 == 1_796_700_000_123
    # And it behaves as the standard constructor's UUID of the same value
    same = UUID(str(event_id))
    assert hash(event_id) == hash(same)
    assert event_id.bytes == same.bytes
    assert event_id.is_safe is same.is_safe
    assert pickle.loads(pickle.dumps(event_id)) == same  # noqa: S301 (our own bytes)


def test_event_ids_made_in_later_milliseconds_sort_after_and_never_repeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a clock that moves one millisecond every hundred ids
    made = iter(range(10_000))
    monkeypatch.setattr(model, "_time_ns", lambda: 1_796_700_000_000_000_000 + next(made) * 10_000)

    # When ten thousand ids are made
    ids = [model.new_event_id() for _ in range(10_000)]

    # Then all differ, and those of a later millisecond sort after those of an earlier one
    assert len(set(ids)) == len(ids)
    per_millisecond = [ids[start : start + 100] for start in range(0, len(ids), 100)]
    for earlier, later in itertools.pairwise(per_millisecond):
        assert max(earlier) < min(later)


def test_ids_made_together_are_each_what_one_id_is_from_one_random_draw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a clock and a random source that records how much it is asked for
    draws: list[int] = []

    def urandom(size: int) -> bytes:
        draws.append(size)
        return bytes((0xF0 + i) % 256 for i in range(size))

    monkeypatch.setattr(model, "_time_ns", lambda: 1_796_700_000_123_456_789)
    monkeypatch.setattr(model, "_urandom", urandom)

    # When a commit's three ids are made together, and none
    ids = model.new_event_ids(3)

    # Then the source was asked once, for ten bytes an id, and each id is the one `new_event_id`
    # makes of its own ten bytes at that moment
    assert draws == [30]
    assert ids[0] == UUID("01a253aa-4f7b-73c7-b2f3-f4f5f6f7f8f9")
    assert [i.int & ((1 << 62) - 1) for i in ids[1:]] == [
        int.from_bytes(bytes((0xF0 + i) % 256 for i in range(at, at + 10))) & ((1 << 62) - 1)
        for at in (10, 20)
    ]
    assert all((i.version, i.int >> 80) == (7, 1_796_700_000_123) for i in ids)
    assert len(set(ids)) == 3
    assert model.new_event_ids(0) == []
