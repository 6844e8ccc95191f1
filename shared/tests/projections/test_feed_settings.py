"""The Kafka feed's settings (`bilet.projections.kafka.settings`, ADR 0096): the fetch wait
read from the environment reaches the consumer the feed builds, under the caller's own
consumer options. No broker: the consumer is built, not started."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bilet.projections.kafka import FeedSettings, KafkaFeed
from bilet.projections.kafka.settings import DEFAULT_FETCH_WAIT
from bilet.projections.readmodel import ReadModel
from bilet.projections.testing import StreamCounter

AIOKAFKA_DEFAULT_MS = 500


def _feed(read_model: ReadModel, **options: Any) -> KafkaFeed:
    return KafkaFeed(
        read_model,
        StreamCounter(),
        bootstrap_servers="127.0.0.1:9",  # never contacted
        topics=["bilet.example"],
        **options,
    )


async def _fetch_wait_ms(feed: KafkaFeed, *, group: bool) -> int:
    consumer = feed.connection.consumer(**feed.consumer_settings(group=group))
    await consumer.stop()  # never started: this only marks it closed
    # aiokafka keeps the option as given and hands it to its fetcher at start().
    return int(consumer._fetch_max_wait_ms)


def test_given_no_setting_when_a_feed_is_built_then_its_consumer_waits_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BVB_PROJECTION_FEED_FETCH_WAIT", raising=False)
    assert FeedSettings().fetch_wait == DEFAULT_FETCH_WAIT


async def test_given_the_setting_when_a_feed_is_built_then_both_of_its_consumers_use_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bilet.projections.sqlite import SqliteReadModel

    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    try:
        monkeypatch.delenv("BVB_PROJECTION_FEED_FETCH_WAIT", raising=False)
        default = _feed(read_model)
        assert await _fetch_wait_ms(default, group=True) == 100
        assert await _fetch_wait_ms(default, group=False) == 100
        assert AIOKAFKA_DEFAULT_MS != 100  # so the override is what the consumer got

        monkeypatch.setenv("BVB_PROJECTION_FEED_FETCH_WAIT", "0.25")
        assert await _fetch_wait_ms(_feed(read_model), group=True) == 250

        given = _feed(read_model, settings=FeedSettings(fetch_wait=0.02))
        assert await _fetch_wait_ms(given, group=False) == 20

        # A caller's own consumer options win over the settings.
        own = _feed(read_model, consumer_options={"fetch_max_wait_ms": 700})
        assert await _fetch_wait_ms(own, group=True) == 700
    finally:
        await read_model.close()


@pytest.mark.parametrize("seconds", ["0", "0.001", "6", "soon"])
def test_given_a_fetch_wait_out_of_range_when_settings_are_read_then_they_are_refused(
    monkeypatch: pytest.MonkeyPatch, seconds: str
) -> None:
    monkeypatch.setenv("BVB_PROJECTION_FEED_FETCH_WAIT", seconds)
    with pytest.raises(ValidationError):
        FeedSettings()
