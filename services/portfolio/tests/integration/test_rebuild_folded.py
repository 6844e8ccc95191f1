"""The portfolio rebuilt by a fold (ADR 0076) on PostgreSQL: the history folded in a private
SQLite fold by the same handlers, copied with COPY and switched, leaves exactly the rows a live
catch-up of the same stores builds, keeps the erased pupil erased, and a second rebuild over the
first replaces it with the same rows; `bvb portfolio rebuild` folds on PostgreSQL, with the
projection workers' collector for its run."""

import gc
import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from bilet.eventstore import NewEvent
from bilet.projections import folded as folded_rebuild
from bilet.projections import rebuild_from_stores
from bilet.projections.collector import DEFAULT_YOUNG
from bilet_portfolio import cli
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.testing import assert_erased_pupil_kept_out, dump
from bilet_portfolio.settings import PROJECTION_NAME, SOURCES

if TYPE_CHECKING:
    from bilet_portfolio.adapters.testing import RecordedWorld
    from services.portfolio.tests.conftest import Ids
    from services.portfolio.tests.integration.conftest import WorldFactory

pytestmark = pytest.mark.integration

SET = "RecommendationsIssued"


async def test_a_folded_rebuild_builds_what_a_live_catch_up_builds(
    database_url: str, recorded_world: "WorldFactory", ids: "Ids"
) -> None:
    world = await recorded_world()
    live = await world.postgres_read_model(database_url)
    rebuilt = await world.postgres_read_model(database_url)
    expected = await world.caught_up(live)
    assert expected["participants"], "the history built no portfolio"

    # Small transactions and pages, so the fold commits many times before the copy.
    await rebuild_from_stores(
        rebuilt,
        PortfolioProjection(),
        world.stores,
        fold_memory_mib=16,
        long_transactions=7,
        batch_size=5,
    )
    assert await dump(rebuilt) == expected
    assert await rebuilt.checkpoints(PROJECTION_NAME) == await live.checkpoints(PROJECTION_NAME)
    assert await rebuilt.dead_letters(PROJECTION_NAME) == []
    for source in SOURCES:
        assert await rebuilt.position(PROJECTION_NAME, source) == await live.position(
            PROJECTION_NAME, source
        )

    await assert_erased_pupil_kept_out(rebuilt, ids)

    # Rebuilt again over the folded tables (the shadow made anew, the copy replacing it).
    await rebuild_from_stores(rebuilt, PortfolioProjection(), world.stores, fold_memory_mib=16)
    assert await dump(rebuilt) == expected


async def test_the_rebuild_command_folds_into_postgresql(
    database: str, recorded_world: "WorldFactory", monkeypatch: pytest.MonkeyPatch
) -> None:
    # The schemas the fold was copied into (the real copy runs), with the collector's young
    # threshold and frozen objects at the time: the workers' collector (ADR 0114).
    copies: list[tuple[str, int, bool]] = []
    copy_shadow = folded_rebuild.copy_shadow
    collector = gc.get_threshold(), gc.get_freeze_count()
    monkeypatch.delenv("BVB_PROJECTION_GC_YOUNG", raising=False)  # the workers' defaults
    monkeypatch.delenv("BVB_PROJECTION_GC_FREEZE", raising=False)

    async def counted(fold: Any, connection: Any, schema: str, projection: Any) -> None:
        await copy_shadow(fold, connection, schema, projection)
        copies.append((schema, gc.get_threshold()[0], gc.get_freeze_count() > 0))

    monkeypatch.setattr(folded_rebuild, "copy_shadow", counted)
    world = await recorded_world(database_url=database, read_model="postgres", key_store="sqlite")
    read_model = await world.read_model()
    before = await world.caught_up(read_model)

    out = io.StringIO()
    assert await cli.rebuild(world.settings, "stores", out) == 0
    assert copies == [("bvb_portfolio_rm", DEFAULT_YOUNG, True)]
    assert (gc.get_threshold(), gc.get_freeze_count()) == collector  # restored
    assert await dump(read_model) == before
    text = out.getvalue()
    assert "100%" in text
    assert "switched live" in text


def _a_set_again(world: "RecordedWorld", change: Callable[[dict[str, Any]], None]) -> Any:
    """An appender of the world's last recommendation set issued again (a later version of its
    stream, the same season, a new event id), its data changed by `change` and written back as
    the encoder writes it."""

    async def append() -> None:
        store = world.stores["recommender"]
        sets = [event for event in await store.read_all(limit=10_000) if event.type == SET]
        last = sets[-1]
        data = json.loads(last.data)
        change(data)
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        await store.append(last.stream_id, [NewEvent(last.type, text, last.metadata)])

    return append


def _unexpected(data: dict[str, Any]) -> None:
    data["unexpected"] = 1  # nothing extra allowed: the set does not decode


async def _bookkeeping(read_model: Any) -> tuple[Any, ...]:
    parked = await read_model.parked(PROJECTION_NAME)
    return (
        await read_model.dead_letters(PROJECTION_NAME),
        sorted((stream.source, stream.stream_id, stream.version) for stream in parked),
    )


async def test_a_bad_last_set_stops_the_rebuild_command_in_one_line_unless_the_fold_is_strict(
    database: str, recorded_world: "WorldFactory"
) -> None:
    """A season's last set that does not decode, issued after the live read model caught up:
    the fold refuses it before its copy (ADR 0107), which reaches the operator as one line
    naming the strict fold and exit status 1, nothing switched; a strict fold
    (`BVB_PORTFOLIO_REBUILD_FOLD_STRICT`) dead-letters it as a live catch-up does, and
    switches."""
    world = await recorded_world(database_url=database, read_model="postgres", key_store="sqlite")
    read_model = await world.read_model()
    before = await world.caught_up(read_model)
    await _a_set_again(world, _unexpected)()

    out = io.StringIO()
    assert await cli.rebuild(world.settings, "stores", out) == 1
    text = out.getvalue()
    assert "rebuild stopped, the live read model unchanged" in text
    assert "BVB_PORTFOLIO_REBUILD_FOLD_STRICT=true" in text
    assert "Traceback" not in text
    assert await dump(read_model) == before
    assert await _bookkeeping(read_model) == ([], [])

    strict = world.settings.model_copy(update={"portfolio_rebuild_fold_strict": True})
    assert await cli.rebuild(strict, "stores", io.StringIO()) == 0
    expected = await world.postgres_read_model(database)
    assert await dump(read_model) == await world.caught_up(expected)  # the earlier set kept
    assert await _bookkeeping(read_model) == await _bookkeeping(expected)
    dead_letters, parked = await _bookkeeping(read_model)
    assert len(dead_letters) == 1
    assert len(parked) == 1


async def test_a_rebuild_keeps_the_dead_letter_of_a_superseded_set_the_live_read_model_refused(
    database: str, recorded_world: "WorldFactory"
) -> None:
    """A set that does not decode, then a valid one of the same season: the live read model
    dead-letters the first and parks the stream (the second waits behind it). A fold never
    reads a superseded set (ADR 0107), so it decodes the sets of the streams the live read
    model refused as they come, and the rebuild leaves the dead letter, the parked stream and
    the rows as they were."""
    world = await recorded_world(database_url=database, read_model="postgres", key_store="sqlite")
    read_model = await world.read_model()
    await _a_set_again(world, _unexpected)()
    await _a_set_again(world, lambda data: data.pop("unexpected"))()  # superseded by a valid one
    before = await world.caught_up(read_model)
    refused = await _bookkeeping(read_model)
    dead_letters, parked = refused
    assert [kind for _, _, kind, _ in dead_letters] == ["failed", "parked"]  # the later waits
    assert len(parked) == 1

    assert await cli.rebuild(world.settings, "stores", io.StringIO()) == 0
    assert await _bookkeeping(read_model) == refused
    assert await dump(read_model) == before
