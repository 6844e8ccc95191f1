"""The event store contract: what every adapter guarantees, written once, run against each."""

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence

import pytest

from bilet.eventstore import (
    ANY,
    NO_STREAM,
    START,
    STREAM_EXISTS,
    EventIdsConflict,
    EventStore,
    NewEvent,
    PurgeRefused,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    WrongExpectedVersion,
    port,
)


def events(count: int, type_: str = "Happened", **data: object) -> list[NewEvent]:
    return [NewEvent(type=type_, data=json.dumps({"n": n, **data}).encode()) for n in range(count)]


def stream(category: str = "participant") -> str:
    return f"{category}-{uuid.uuid4()}"


def payloads(recorded: Sequence[RecordedEvent]) -> list[int]:
    return [json.loads(e.data)["n"] for e in recorded]


# ------------------------------------------------------------------ append and expectations


async def test_given_no_stream_when_appending_then_versions_start_at_zero(
    store: EventStore,
) -> None:
    sid = stream()
    batch = events(3)
    result = await store.append(sid, batch, NO_STREAM)
    assert (result.stream_id, result.version) == (sid, 2)
    recorded = await store.read_stream(sid)
    assert [e.version for e in recorded] == [0, 1, 2]
    assert [e.event_id for e in recorded] == [e.event_id for e in batch]
    assert [e.type for e in recorded] == ["Happened"] * 3
    assert payloads(recorded) == [0, 1, 2]
    assert recorded[-1].position == result.position
    assert recorded[0].position < recorded[1].position < recorded[2].position
    assert recorded[0].category == "participant"
    assert recorded[0].recorded_at.tzinfo is not None
    assert await store.stream_version(sid) == 2


async def test_an_exact_expected_version_appends_and_a_stale_one_says_the_actual_version(
    store: EventStore,
) -> None:
    sid = stream()
    await store.append(sid, events(2), NO_STREAM)
    assert (await store.append(sid, events(1), 1)).version == 2
    with pytest.raises(WrongExpectedVersion) as conflict:
        await store.append(sid, events(1), 1)
    assert (conflict.value.stream_id, conflict.value.expected, conflict.value.actual) == (
        sid,
        1,
        2,
    )
    assert "actual 2" in str(conflict.value)
    assert await store.stream_version(sid) == 2


async def test_stream_state_expectations(store: EventStore) -> None:
    sid = stream()
    with pytest.raises(WrongExpectedVersion) as absent:
        await store.append(sid, events(1), STREAM_EXISTS)
    assert absent.value.actual is None
    with pytest.raises(WrongExpectedVersion):
        await store.append(sid, events(1), 0)
    await store.append(sid, events(1), NO_STREAM)
    with pytest.raises(WrongExpectedVersion) as exists:
        await store.append(sid, events(1), NO_STREAM)
    assert exists.value.actual == 0
    assert (await store.append(sid, events(1), STREAM_EXISTS)).version == 1
    assert (await store.append(sid, events(1), ANY)).version == 2
    assert (await store.append(stream(), events(1), ANY)).version == 0


async def test_an_append_to_several_streams_commits_all_or_nothing(store: EventStore) -> None:
    # The streams are named against alphabetical order: positions follow the caller's order.
    first, second = stream("reservation"), stream("participant")
    await store.append(second, events(1), NO_STREAM)
    head = await store.head_position()
    with pytest.raises(WrongExpectedVersion):
        await store.append_many(
            [StreamAppend(first, events(2), NO_STREAM), StreamAppend(second, events(1), NO_STREAM)]
        )
    assert await store.read_stream(first) == []
    assert await store.head_position() == head
    results = await store.append_many(
        [StreamAppend(first, events(2), NO_STREAM), StreamAppend(second, events(1), 0)]
    )
    assert [(r.stream_id, r.version) for r in results] == [(first, 1), (second, 1)]
    assert results[0].position < results[1].position
    assert await store.head_position() == results[1].position


async def test_an_empty_append_or_one_naming_a_stream_twice_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="no events"):
        await store.append(stream(), [], ANY)
    sid = stream()
    with pytest.raises(ValueError, match="twice"):
        await store.append_many([StreamAppend(sid, events(1)), StreamAppend(sid, events(1))])
    assert await store.stream_version(sid) is None


# ------------------------------------------------------------------ idempotent retries


async def test_a_retried_append_with_the_same_event_ids_returns_the_original_result(
    store: EventStore,
) -> None:
    sid = stream()
    batch = events(3)
    original = await store.append(sid, batch, NO_STREAM)
    await store.append(sid, events(1), 2)
    # The retry carries the original expectation, which is stale by now: it still succeeds.
    retried = await store.append(sid, batch, NO_STREAM)
    assert retried == original
    assert payloads(await store.read_stream(sid)) == [0, 1, 2, 0]
    assert len(await store.read_all()) == 4


async def test_an_append_whose_one_part_is_a_retry_writes_only_the_others(
    store: EventStore,
) -> None:
    # Given one stream's part of an append already stored (its caller did not hear back)
    done, rest, stale = stream(), stream(), stream()
    batch = events(2)
    original = await store.append(done, batch, NO_STREAM)

    # When the append is made again whole: the stored part is answered, the other written
    results = await store.append_many(
        [StreamAppend(done, batch, NO_STREAM), StreamAppend(rest, events(1), NO_STREAM)]
    )
    assert results[0] == original
    assert (results[1].stream_id, results[1].version) == (rest, 0)
    assert results[1].position > original.position

    # And a part that fails on its own merits still fails the rest of the append
    await store.append(stale, events(1), NO_STREAM)
    with pytest.raises(WrongExpectedVersion):
        await store.append_many(
            [StreamAppend(done, batch, NO_STREAM), StreamAppend(stale, events(1), NO_STREAM)]
        )
    assert payloads(await store.read_stream(done)) == [0, 1]
    assert payloads(await store.read_stream(rest)) == [0]
    assert payloads(await store.read_stream(stale)) == [0]


async def test_reused_event_ids_that_are_not_an_identical_retry_are_refused(
    store: EventStore,
) -> None:
    sid = stream()
    batch = events(2)
    await store.append(sid, batch, NO_STREAM)
    # KurrentDB checks event ids only within a stream (docs/adr/0005-kurrentdb-adapter.md).
    if type(store).__name__ != "KurrentDbEventStore":
        with pytest.raises(EventIdsConflict):
            await store.append(stream(), batch, ANY)
    with pytest.raises(EventIdsConflict):
        await store.append(sid, [batch[0], *events(1)], ANY)
    duplicate = events(1)
    with pytest.raises(EventIdsConflict):
        await store.append(stream(), duplicate + duplicate, ANY)
    assert await store.stream_version(sid) == 1
    assert len(await store.read_all()) == 2


# ------------------------------------------------------------------ reading


async def test_read_stream_from_a_version_backwards_and_limited(store: EventStore) -> None:
    sid = stream()
    await store.append(sid, events(10), NO_STREAM)
    assert payloads(await store.read_stream(sid, 7)) == [7, 8, 9]
    assert payloads(await store.read_stream(sid, 2, limit=3)) == [2, 3, 4]
    assert payloads(await store.read_stream(sid, backwards=True, limit=3)) == [9, 8, 7]
    assert payloads(await store.read_stream(sid, 4, backwards=True)) == [4, 3, 2, 1, 0]
    assert await store.read_stream(stream()) == []


async def test_read_all_in_global_order_after_a_position_and_filtered(store: EventStore) -> None:
    a, b, c = stream("participant"), stream("school"), stream("participant")
    await store.append(a, events(2, "ParticipantRegistered"), NO_STREAM)
    await store.append(b, events(1, "SchoolRegistered"), NO_STREAM)
    await store.append(c, events(1, "ParticipantRegistered"), NO_STREAM)
    await store.append(a, events(1, "GuardianLinked"), 1)
    everything = await store.read_all()
    assert [e.stream_id for e in everything] == [a, a, b, c, a]
    positions = [e.position for e in everything]
    assert positions == sorted(positions)
    assert len(set(positions)) == 5
    assert await store.read_all(positions[2]) == everything[3:]
    assert await store.read_all(START, 2) == everything[:2]
    by_category = await store.read_all(categories={"participant"})
    assert [e.stream_id for e in by_category] == [a, a, c, a]
    by_type = await store.read_all(event_types={"GuardianLinked", "SchoolRegistered"})
    assert [e.type for e in by_type] == ["SchoolRegistered", "GuardianLinked"]
    both = await store.read_all(categories={"participant"}, event_types={"GuardianLinked"})
    assert [e.stream_id for e in both] == [a]
    assert await store.head_position() == positions[-1]
    assert await store.read_all(positions[-1]) == []


async def test_the_last_position_of_some_types_is_the_last_that_reading_them_gives(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a catch-up filtered to some types must reach (ADR 0114): a store may answer it in
    one query, and must answer what reading the types gives, within the bounds."""
    # Pages of two: a store that answers with the port's read loop (memory) crosses pages.
    monkeypatch.setattr(port, "LAST_POSITION_PAGE", 2)
    sid = stream()
    kinds = ["A", "B", "A", "C", "B", "C", "C"]
    for n, kind in enumerate(kinds):
        await store.append(sid, events(1, kind), n - 1 if n else NO_STREAM)
    positions = [e.position for e in await store.read_all()]
    for types in ({"A"}, {"B"}, {"A", "B"}, {"C"}, {"D"}):
        for after in (START, *positions):
            for up_to in positions:
                read = [
                    e.position
                    for e in await store.read_all(after, 100, event_types=types)
                    if e.position <= up_to
                ]
                expected = read[-1] if read else None
                assert await store.last_position(types, after, up_to) == expected, (
                    types,
                    positions.index(after) if after in positions else after,
                    positions.index(up_to),
                )


async def test_a_second_store_on_the_same_database_sees_the_same_history(
    open_store: Callable[[], Awaitable[EventStore]],
) -> None:
    writer = await open_store()
    sid = stream()
    result = await writer.append(sid, events(3), NO_STREAM)
    reader = await open_store()
    assert payloads(await reader.read_stream(sid)) == [0, 1, 2]
    assert (await reader.read_all())[-1].position == result.position


# ------------------------------------------------------------------ stream metadata


async def test_truncate_before_hides_older_versions_from_read_stream(store: EventStore) -> None:
    sid = stream()
    await store.append(sid, events(5), NO_STREAM)
    await store.set_stream_metadata(sid, StreamMetadata(truncate_before=3))
    assert await store.get_stream_metadata(sid) == StreamMetadata(truncate_before=3)
    assert payloads(await store.read_stream(sid)) == [3, 4]
    assert payloads(await store.read_stream(sid, backwards=True)) == [4, 3]
    assert (await store.append(sid, events(1), 4)).version == 5


async def test_a_deleted_stream_reads_as_absent_and_appending_continues_its_versions(
    store: EventStore,
) -> None:
    sid = stream()
    await store.append(sid, events(3), NO_STREAM)
    await store.delete_stream(sid)
    assert await store.read_stream(sid) == []
    assert await store.stream_version(sid) is None
    with pytest.raises(WrongExpectedVersion):
        await store.append(sid, events(1), STREAM_EXISTS)
    assert (await store.append(sid, events(1, fresh=True), NO_STREAM)).version == 3
    recorded = await store.read_stream(sid)
    assert [(e.version, json.loads(e.data).get("fresh")) for e in recorded] == [(3, True)]
    # The history itself stays replayable: read_all still has every event.
    assert len([e for e in await store.read_all() if e.stream_id == sid]) == 4


# ------------------------------------------------------------------ purging (really forgetting)


@pytest.fixture
async def purging(store: EventStore) -> EventStore:
    """The store, allowed to purge reservations; an adapter that cannot purge must refuse."""
    store.allow_purging({"reservation"})
    if type(store).__name__ == "KurrentDbEventStore":
        sid = stream("reservation")
        await store.append(sid, events(1), NO_STREAM)
        with pytest.raises(PurgeRefused, match="cannot purge"):
            await store.purge_stream(sid)
        assert await store.stream_version(sid) == 0
        pytest.skip("KurrentDB refuses to purge (docs/adr/0016)")
    return store


async def test_a_purged_stream_is_gone_from_every_read_and_comes_back_from_version_zero(
    purging: EventStore,
) -> None:
    store = purging
    sid, kept = stream("reservation"), stream("reservation")
    await store.append(sid, events(2, secret="the-child"), NO_STREAM)
    await store.append(kept, events(1), NO_STREAM)
    before = await store.head_position()
    await store.append(sid, events(1, secret="the-child"), 1)  # the store's last event

    assert await store.purge_stream(sid) is True

    assert await store.read_stream(sid) == []
    assert await store.read_stream(sid, backwards=True) == []
    assert await store.stream_version(sid) is None
    assert await store.get_stream_metadata(sid) == StreamMetadata()
    everything = await store.read_all()
    assert [e.stream_id for e in everything] == [kept]
    assert not [e for e in await store.read_all(categories={"reservation"}) if e.stream_id == sid]
    # Unlike a soft delete, nothing of it is left: it starts again as a new stream, and its new
    # events come after every position ever given out (the purged last one included).
    again = await store.append(sid, events(1, fresh=True), NO_STREAM)
    assert again.version == 0
    assert again.position > before
    recorded = await store.read_stream(sid)
    assert [(e.version, json.loads(e.data).get("fresh")) for e in recorded] == [(0, True)]
    assert payloads(await store.read_stream(kept)) == [0]


async def test_purging_an_absent_or_already_purged_stream_does_nothing(
    purging: EventStore,
) -> None:
    store = purging
    sid = stream("reservation")
    assert await store.purge_stream(sid) is False
    await store.append(sid, events(1), NO_STREAM)
    assert await store.purge_stream(sid) is True
    assert await store.purge_stream(sid) is False
    assert await store.read_all() == []


async def test_a_purge_expecting_a_version_refuses_a_stream_that_moved_on(
    purging: EventStore,
) -> None:
    # Decided on a released reservation at version 1; another child's claim came since.
    store = purging
    sid = stream("reservation")
    await store.append(sid, events(2), NO_STREAM)
    await store.append(sid, events(1, claim=True), 1)
    with pytest.raises(WrongExpectedVersion):
        await store.purge_stream(sid, 1)
    assert [e.version for e in await store.read_stream(sid)] == [0, 1, 2]
    with pytest.raises(WrongExpectedVersion):
        await store.purge_stream(stream("reservation"), 0)  # expected a stream that is not there
    assert await store.purge_stream(sid, 2) is True
    assert await store.read_stream(sid) == []


async def test_an_append_racing_a_purge_lands_wholly_before_it_or_after_it(
    purging: EventStore,
) -> None:
    store = purging
    for _ in range(5):
        sid = stream("reservation")
        await store.append(sid, events(3), NO_STREAM)
        await asyncio.gather(store.purge_stream(sid), store.append(sid, events(1, fresh=True)))
        left = [(e.version, json.loads(e.data).get("fresh")) for e in await store.read_stream(sid)]
        # Before: purged with the rest. After: a new stream of its own, from version 0.
        assert left in ([], [(0, True)])
        assert await store.stream_version(sid) == (None if left == [] else 0)
        everything = await store.read_all(limit=10_000)
        assert [e.version for e in everything if e.stream_id == sid] == [v for v, _ in left]


async def test_purging_is_refused_for_a_category_not_allowed_and_changes_nothing(
    store: EventStore,
) -> None:
    """Published streams are never purged: their records stay on the topic and replays of the
    store must keep matching them. A store purges nothing until told which categories it may."""
    published = stream("participant")
    await store.append(published, events(2), NO_STREAM)
    with pytest.raises(PurgeRefused, match="participant"):
        await store.purge_stream(published)
    store.allow_purging({"reservation"})
    with pytest.raises(PurgeRefused):
        await store.purge_stream(published)
    assert payloads(await store.read_stream(published)) == [0, 1]
    assert len(await store.read_all()) == 2


# ------------------------------------------------------------------ subscriptions


async def _take(
    store: EventStore, after: int, count: int, **filters: object
) -> list[RecordedEvent]:
    received: list[RecordedEvent] = []
    async for event in store.subscribe_all(after, **filters):  # type: ignore[arg-type]
        received.append(event)
        if len(received) == count:
            break
    return received


async def test_a_subscription_catches_up_then_receives_live_appends(store: EventStore) -> None:
    store.poll_interval = 60  # only a real wake-up can deliver within the test's timeout
    sid = stream()
    await store.append(sid, events(3), NO_STREAM)
    consumer = asyncio.create_task(_take(store, START, 6))
    await asyncio.sleep(0.1)
    await store.append(sid, events(2), 2)
    await store.append(stream("school"), events(1), NO_STREAM)
    received = await asyncio.wait_for(consumer, 5)
    assert [e.stream_id for e in received] == [sid] * 5 + [received[-1].stream_id]
    assert [e.position for e in received] == sorted(e.position for e in received)


async def test_a_filtered_subscription_receives_only_its_categories(store: EventStore) -> None:
    consumer = asyncio.create_task(_take(store, START, 2, categories={"school"}))
    await store.append(stream("participant"), events(2), NO_STREAM)
    await store.append(stream("school"), events(2), NO_STREAM)
    received = await asyncio.wait_for(consumer, 10)
    assert {e.category for e in received} == {"school"}


async def test_a_failed_append_leaves_no_hole_that_stalls_a_subscriber(store: EventStore) -> None:
    store.poll_interval = 60  # only a real wake-up can deliver within the test's timeout
    refusing = stream()
    await store.append(refusing, events(1), NO_STREAM)
    taken = await store.append(stream(), events(1), NO_STREAM)
    consumer = asyncio.create_task(_take(store, taken.position, 1))
    # Failed appends come first, so any hole they leave lies before the event to deliver.
    for _ in range(5):
        with pytest.raises(WrongExpectedVersion):
            await store.append_many(
                [StreamAppend(stream(), events(3), NO_STREAM), StreamAppend(refusing, events(1), 5)]
            )
    blocked = stream()
    await store.append(blocked, events(1), NO_STREAM)
    received = await asyncio.wait_for(consumer, 5)
    assert received[0].stream_id == blocked
    later = await store.append(stream(), events(1), NO_STREAM)
    assert (await store.read_all(received[0].position))[0].position == later.position


# ------------------------------------------------------------------ concurrency


@pytest.mark.parametrize("repetition", range(5))
async def test_concurrent_writers_and_a_tailing_subscriber_see_every_event_exactly_once(
    store: EventStore, repetition: int
) -> None:
    writers, appends_per_writer = 16, 1500
    start = await store.head_position()
    total = writers * appends_per_writer

    async def write(writer: int) -> None:
        sid = f"writer{writer}-{uuid.uuid4()}"
        for n in range(appends_per_writer):
            data = json.dumps({"w": writer, "n": n}).encode()
            await store.append(sid, [NewEvent("Written", data)], n - 1 if n else NO_STREAM)

    subscriber = asyncio.create_task(_take(store, start, total))
    await asyncio.gather(*(write(w) for w in range(writers)))
    received = await asyncio.wait_for(subscriber, 120)

    assert len({e.event_id for e in received}) == total
    positions = [e.position for e in received]
    assert positions == sorted(positions)
    assert len(set(positions)) == total
    seen: dict[int, list[int]] = {}
    for event in received:
        payload = json.loads(event.data)
        seen.setdefault(payload["w"], []).append(payload["n"])
    assert seen == {w: list(range(appends_per_writer)) for w in range(writers)}
    assert received == await store.read_all(start, total)


async def test_writers_racing_on_one_stream_lose_no_update_and_leave_no_gap(
    store: EventStore,
) -> None:
    sid = stream()
    writers, successes_each = 12, 15

    async def write(writer: int) -> int:
        conflicts = 0
        done = 0
        while done < successes_each:
            version = await store.stream_version(sid)
            expected = NO_STREAM if version is None else version
            data = json.dumps({"w": writer, "n": done}).encode()
            try:
                await store.append(sid, [NewEvent("Raced", data)], expected)
                done += 1
            except WrongExpectedVersion:
                conflicts += 1
        return conflicts

    await asyncio.gather(*(write(w) for w in range(writers)))
    recorded = await store.read_stream(sid)
    assert [e.version for e in recorded] == list(range(writers * successes_each))
    by_writer: dict[int, list[int]] = {}
    for event in recorded:
        payload = json.loads(event.data)
        by_writer.setdefault(payload["w"], []).append(payload["n"])
    assert by_writer == {w: list(range(successes_each)) for w in range(writers)}


async def test_appends_to_the_same_streams_in_opposite_orders_do_not_deadlock(
    store: EventStore,
) -> None:
    a, b = stream(), stream("reservation")

    async def write(first: str, second: str) -> None:
        for _ in range(40):
            await store.append_many(
                [StreamAppend(first, events(1), ANY), StreamAppend(second, events(1), ANY)]
            )

    await asyncio.wait_for(
        asyncio.gather(*(write(a, b) if n % 2 else write(b, a) for n in range(8))), 60
    )
    assert await store.stream_version(a) == await store.stream_version(b) == 8 * 40 - 1


async def test_concurrent_identical_retries_write_once(store: EventStore) -> None:
    sid = stream()
    batch = events(3)
    results = await asyncio.gather(*(store.append(sid, batch, NO_STREAM) for _ in range(20)))
    assert len(set(results)) == 1
    assert len(await store.read_stream(sid)) == 3


async def test_concurrent_identical_multi_stream_retries_on_existing_streams_write_once(
    store: EventStore,
) -> None:
    existing, fresh = stream(), stream("reservation")
    await store.append(existing, events(1), NO_STREAM)
    parts = [StreamAppend(existing, events(2), ANY), StreamAppend(fresh, events(1), ANY)]
    results = await asyncio.gather(*(store.append_many(parts) for _ in range(20)))
    assert len({tuple(r) for r in results}) == 1
    assert len(await store.read_stream(existing)) == 3
    assert len(await store.read_stream(fresh)) == 1
