"""The audit tells whether a topic holds a store's history: duplicates are fine, anything missing,
unknown, altered, out of order or split over partitions is not."""

import uuid
from datetime import UTC, datetime

from bilet.eventstore import RecordedEvent
from bilet.relay.audit import PublishedEvent, audit


def history() -> list[RecordedEvent]:
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    events = []
    for position, (stream, version) in enumerate(
        [("participant-a", 0), ("participant-b", 0), ("participant-a", 1), ("participant-b", 1)],
        start=1,
    ):
        events.append(
            RecordedEvent(stream, version, position, uuid.uuid4(), "T", b"{}", b"{}", now)
        )
    return events


def on_topic(events: list[RecordedEvent], partition_of: dict[str, int]) -> list[PublishedEvent]:
    offsets: dict[int, int] = {}
    published = []
    for event in events:
        partition = partition_of[event.stream_id]
        offsets[partition] = offsets.get(partition, -1) + 1
        published.append(PublishedEvent(partition, offsets[partition], event))
    return published


PARTITIONS = {"participant-a": 0, "participant-b": 1}


def test_a_topic_with_every_event_in_order_and_some_duplicates_passes() -> None:
    a0, b0, a1, b1 = history()
    report = audit([a0, b0, a1, b1], on_topic([a0, b0, a0, a1, b1, a1, b1], PARTITIONS))
    assert report.ok, report.summary()
    assert (report.stored, report.published, report.duplicates) == (4, 7, 3)


def test_a_missing_event_fails_and_is_named() -> None:
    a0, b0, a1, b1 = history()
    report = audit([a0, b0, a1, b1], on_topic([a0, a1, b1], PARTITIONS))
    assert not report.ok
    assert report.missing == [b0.event_id]


def test_a_stream_first_seen_out_of_order_fails_even_if_repeated_later_in_order() -> None:
    a0, b0, a1, b1 = history()
    report = audit([a0, b0, a1, b1], on_topic([a1, a0, a1, b0, b1], PARTITIONS))
    assert report.out_of_order_streams == ["participant-a"]
    assert not report.missing


def test_unknown_altered_and_split_events_fail() -> None:
    a0, b0, a1, b1 = history()
    stranger = a0._replace(event_id=uuid.uuid4(), position=99)
    altered = b1._replace(data=b'{"changed":true}')
    published = on_topic([a0, b0, a1, altered, stranger], PARTITIONS)
    published.append(PublishedEvent(1, 100, a1))  # participant-a also on partition 1
    report = audit([a0, b0, a1, b1], published)
    assert report.unknown == [stranger.event_id]
    assert report.mismatched == [b1.event_id]
    assert report.split_streams == ["participant-a"]
    assert not report.ok
