"""A rebuild's long transactions (ADR 0068): the merged sources applied thousands of events at a
time build exactly what a live catch-up builds, a batch that is not clean (a projection failing
on one event) falls back to the ordinary path with the same dead letters and parked stream, and
a rebuild stopped half-way leaves the live read model as it was and can be run again."""

import json
import random
from collections.abc import AsyncIterator, Sequence
from functools import partial
from pathlib import Path

import pytest

from bilet.eventstore import EventStore, NewEvent
from bilet.projections import ReadModel, rebuild_from_stores
from bilet.projections import embedded as embedded_feed
from bilet.projections.merged import Run, apply_merged
from bilet.projections.projector import Projector
from bilet.projections.testing import (
    POISON,
    StreamCounter,
    counter_state,
    live_counter_state,
    sqlite_sources,
)


async def _interleaved_history(stores: dict[str, EventStore], events: int) -> None:
    """Events appended to the sources in turns of random length (so the merge by recorded time
    makes short runs), one of them a poison the example projection cannot digest."""
    rng = random.Random(7)
    sources = sorted(stores)
    for number in range(events):
        source = sources[(number // rng.randint(1, 4)) % len(sources)]
        kind = POISON if number == events // 2 else rng.choice(("Registered", "Corrected"))
        data = json.dumps({"n": number}).encode()
        await stores[source].append(f"participant-{rng.randrange(12)}", [NewEvent(kind, data)])


class _Spy:
    """Counts `apply_merged`'s answers (the real one runs); may stop the rebuild after a few."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.together = 0
        self.fell_back = 0
        self.stop_after = stop_after

    async def __call__(
        self,
        projector: Projector,
        runs: Sequence[Run],
        checkpoints: dict[str, int],
        parked: set[tuple[str, str]],
    ) -> dict[str, int] | None:
        if self.stop_after is not None and self.together >= self.stop_after:
            raise KeyboardInterrupt  # the operator's Ctrl-C, between two transactions
        moved = await apply_merged(projector, runs, checkpoints, parked)
        if moved is None:
            self.fell_back += 1
        else:
            self.together += 1
        return moved


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[dict[str, EventStore]]:
    """Two sources with their history laid down (`live_counter_state` catches a read model up
    on it)."""
    async with sqlite_sources(tmp_path, partial(_interleaved_history, events=200)) as opened:
        yield opened


async def test_long_transactions_build_what_a_live_catch_up_builds(
    read_model: ReadModel, stores: dict[str, EventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = await live_counter_state(read_model, stores)
    assert live[3], "the poison parked its stream"
    assert live[4], "the poison was dead-lettered"

    spy = _Spy()
    monkeypatch.setattr(embedded_feed, "apply_merged", spy)
    await rebuild_from_stores(
        read_model, StreamCounter(), stores, long_transactions=40, batch_size=16
    )
    assert await counter_state(read_model) == live
    # Most of the history went in long transactions; the one holding the poison fell back, and
    # so does each later one holding an event of the stream it parked.
    assert spy.fell_back >= 1
    assert spy.together > spy.fell_back


async def test_a_rebuild_stopped_half_way_leaves_the_live_model_and_runs_again(
    read_model: ReadModel, stores: dict[str, EventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = await live_counter_state(read_model, stores)

    stopping = _Spy(stop_after=2)
    monkeypatch.setattr(embedded_feed, "apply_merged", stopping)
    with pytest.raises(KeyboardInterrupt):
        await rebuild_from_stores(
            read_model, StreamCounter(), stores, long_transactions=30, batch_size=16
        )
    assert stopping.together == 2
    assert await counter_state(read_model) == live

    again = _Spy()
    monkeypatch.setattr(embedded_feed, "apply_merged", again)
    await rebuild_from_stores(
        read_model, StreamCounter(), stores, long_transactions=30, batch_size=16
    )
    assert again.together >= 2
    assert await counter_state(read_model) == live
