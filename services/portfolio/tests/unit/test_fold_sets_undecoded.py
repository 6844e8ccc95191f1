"""In a rebuild's fold (ADR 0107) a recommendation set is decoded only if it is the last of its
participant's season: its participant and season are read from its first bytes
(`bilet.contracts.leading.LeadingFields`), the set is left undecoded for the copy, and
`before_copy` decodes the survivors. The rows are still the live projection's; a set whose
first fields do not read so is decoded as it comes, as before. The one change of outcome, argued
in the ADR, is for a set that would not decode: a superseded one is never read, and the last
one stops the fold before its copy."""

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bilet.contracts import InvalidEventData, decode
from bilet.eventstore import RecordedEvent
from bilet.projections.folded import FoldReadModel
from bilet.projections.readmodel.schema import layout_of
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters import projection as portfolio
from bilet_portfolio.adapters.projection import PortfolioProjection, recommender
from bilet_portfolio.adapters.projection.recommender import LeftSetRefused
from bilet_portfolio.adapters.testing import Recorded, apply_in_order, dump, world_history

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder

SET = "RecommendationsIssued"


def _count_set_decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every recommendation set the projection decodes (its data), wherever it decodes it."""
    decoded: list[bytes] = []

    def counting(stored: Any) -> Any:
        if stored.type == SET:
            decoded.append(stored.data)
        return decode(stored)

    monkeypatch.setattr(portfolio, "decode", counting)
    monkeypatch.setattr(recommender, "decode", counting)
    return decoded


async def _fold(
    tmp_path: Path, recorded: Recorded, projection: PortfolioProjection | None = None
) -> FoldReadModel:
    fold = await FoldReadModel.open_fold(tmp_path / "fold.sqlite3", memory_mib=16)
    await apply_in_order(fold, recorded, projection)
    return fold


async def _before_copy(fold: FoldReadModel) -> None:
    projection = PortfolioProjection()
    await fold.do_left_work(projection, layout_of(projection, fold.dialect).renderer)


async def _live_rows(tmp_path: Path, recorded: Recorded) -> Any:
    live = await SqliteReadModel.open(tmp_path / "live.sqlite3")
    await apply_in_order(live, recorded)
    rows = await dump(live)
    await live.close()
    return rows


def _survivors(history: Recorded) -> set[bytes]:
    """The data of the last set of each participant's season."""
    last: dict[tuple[object, int], bytes] = {}
    for _, event in history:
        if event.type == SET:
            issued = decode(event)
            last[(issued.participant_id, issued.season)] = event.data  # type: ignore[attr-defined]
    return set(last.values())


async def _history_with_sets_again(
    catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> tuple[Recorded, Recorded]:
    """The world history, then every set of it issued again a day later (a later version of
    its stream): each season's last set is one of these. (history, the first sets)"""
    recorded = await world_history(catalogue, ids, recorder)
    sets = [(source, event) for source, event in recorded if event.type == SET]
    assert len(sets) >= 2
    last = max(event.recorded_at for _, event in recorded) + timedelta(days=1)
    again: Recorded = [
        (
            source,
            event._replace(
                version=event.version + 1000, position=event.position + 10**6, recorded_at=last
            ),
        )
        for source, event in sets
    ]
    return recorded + again, sets


def _data(event: RecordedEvent, change: Callable[[dict[str, Any]], None]) -> RecordedEvent:
    """The event with its data changed (written back as the encoder writes it: key order kept,
    no spaces)."""
    data = json.loads(event.data)
    change(data)
    return event._replace(data=json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


async def test_a_fold_decodes_only_the_last_set_of_each_season_and_equals_the_live_rows(
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history, _ = await _history_with_sets_again(catalogue, ids, recorder)
    expected = await _live_rows(tmp_path, history)
    survivors = _survivors(history)
    assert sum(event.type == SET for _, event in history) > len(survivors)  # some superseded
    decoded = _count_set_decodes(monkeypatch)
    fold = await _fold(tmp_path, history)
    assert decoded == []  # every set left undecoded, superseded or not
    await _before_copy(fold)
    assert await dump(fold) == expected
    assert sorted(decoded) == sorted(survivors)  # the survivors, once each
    await fold.close()


async def test_a_set_whose_first_fields_do_not_read_so_is_decoded_as_it_comes(
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keys in another order than the encoder's: the set is decoded in the handler, and the
    fold still leaves it for the copy (decoded once more there if it survives)."""
    history, _ = await _history_with_sets_again(catalogue, ids, recorder)
    reordered: Recorded = [
        (source, event._replace(data=json.dumps(json.loads(event.data), sort_keys=True).encode()))
        if event.type == SET
        else (source, event)
        for source, event in history
    ]
    expected = await _live_rows(tmp_path, reordered)
    assert expected == await _live_rows(tmp_path / "as-written", history)  # the same set
    decoded = _count_set_decodes(monkeypatch)
    fold = await _fold(tmp_path, reordered)
    sets = sum(event.type == SET for _, event in history)
    assert len(decoded) == sets  # each as it came
    await _before_copy(fold)
    assert await dump(fold) == expected
    await fold.close()


async def test_a_set_whose_first_fields_are_refused_fails_in_the_fold_as_it_does_live(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """A season out of bounds: not read from the first bytes, so decoded, and refused there,
    as the live projection refuses it (the runtime then dead-letters it on both)."""
    _, first_sets = await _history_with_sets_again(catalogue, ids, recorder)
    _, a_set = first_sets[0]
    bad = _data(a_set, lambda data: data.update(season=1900))
    projection = PortfolioProjection()
    for read_model in (
        await SqliteReadModel.open(tmp_path / "live.sqlite3"),
        await FoldReadModel.open_fold(tmp_path / "fold.sqlite3", memory_mib=16),
    ):
        await read_model.install(projection)
        renderer = layout_of(projection, read_model.dialect).renderer
        with pytest.raises(InvalidEventData):
            async with read_model.transaction(renderer) as tx:
                await projection.apply(tx, bad)
        await read_model.close()


async def test_a_superseded_set_that_would_not_decode_is_never_read_by_a_fold(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """The change of outcome ADR 0107 accepts: the live projection refuses such a set (the
    runtime dead-letters it and parks the participant's stream of sets); the fold reads only its
    first fields, and the later set replaces it, so the fold's rows are those of the history
    with any valid set in its place."""
    history, first_sets = await _history_with_sets_again(catalogue, ids, recorder)
    _, superseded = first_sets[0]
    bad = _data(superseded, lambda data: data.update(unexpected=1))  # nothing extra allowed
    with pytest.raises(InvalidEventData):
        decode(bad)
    with_bad = [(source, bad if event is superseded else event) for source, event in history]
    fold = await _fold(tmp_path, with_bad)
    await _before_copy(fold)
    assert await dump(fold) == await _live_rows(tmp_path, history)
    await fold.close()


async def test_the_last_set_of_a_season_that_does_not_decode_stops_the_fold_before_its_copy(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """A live catch-up dead-letters it and keeps the participant's earlier set, which the fold
    did not keep: rather than differ, the fold stops (the rebuild then copies nothing), naming
    the way that decodes every set as it comes (a strict fold)."""
    history, _ = await _history_with_sets_again(catalogue, ids, recorder)
    survivors = _survivors(history)
    last_set = next(
        event for _, event in reversed(history) if event.type == SET and event.data in survivors
    )
    bad = _data(last_set, lambda data: data.update(unexpected=1))
    with_bad = [(source, bad if event is last_set else event) for source, event in history]
    fold = await _fold(tmp_path, with_bad)
    with pytest.raises(LeftSetRefused, match="BVB_PORTFOLIO_REBUILD_FOLD_STRICT=true") as refused:
        await _before_copy(fold)
    assert "unexpected" in str(refused.value)  # the field named, never a value
    await fold.close()


async def test_a_left_set_that_decodes_as_another_participants_stops_the_fold(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """What was read of a set's first bytes is checked against its decoding before it is
    written: a set left under another participant (a fold's table edited, or a reader's bug)
    is refused rather than written into their portfolio."""
    history, _ = await _history_with_sets_again(catalogue, ids, recorder)
    fold = await _fold(tmp_path, history)
    other = str(ids.pupil("nobody"))
    async with fold.transaction(layout_of(PortfolioProjection(), fold.dialect).renderer) as tx:
        await tx.execute(
            "UPDATE portfolio_left_sets SET participant_id = $1 WHERE rowid = "
            "(SELECT MIN(rowid) FROM portfolio_left_sets)",
            other,
        )
    with pytest.raises(LeftSetRefused, match="another participant"):
        await _before_copy(fold)
    await fold.close()


async def test_a_left_set_that_decodes_as_another_season_stops_the_fold(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """The same check for the season: the message says which of the two may differ."""
    history, _ = await _history_with_sets_again(catalogue, ids, recorder)
    fold = await _fold(tmp_path, history)
    async with fold.transaction(layout_of(PortfolioProjection(), fold.dialect).renderer) as tx:
        await tx.execute(
            "UPDATE portfolio_left_sets SET season = season + 1 WHERE rowid = "
            "(SELECT MIN(rowid) FROM portfolio_left_sets)"
        )
    with pytest.raises(LeftSetRefused, match="another participant or season"):
        await _before_copy(fold)
    await fold.close()


async def test_a_strict_fold_decodes_every_set_as_it_comes_and_refuses_a_bad_one_as_live_does(
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`BVB_PORTFOLIO_REBUILD_FOLD_STRICT`: no set left undecoded, so a superseded set that does
    not decode is refused where it stands (the runtime dead-letters it, as live), and the
    rows are still the live projection's."""
    history, first_sets = await _history_with_sets_again(catalogue, ids, recorder)
    strict = PortfolioProjection(strict_fold=True)
    decoded = _count_set_decodes(monkeypatch)
    fold = await _fold(tmp_path, history, strict)
    assert len(decoded) == sum(event.type == SET for _, event in history)  # each as it came
    await fold.do_left_work(strict, layout_of(strict, fold.dialect).renderer)
    assert await dump(fold) == await _live_rows(tmp_path, history)
    _, superseded = first_sets[0]
    bad = _data(superseded, lambda data: data.update(unexpected=1))
    renderer = layout_of(strict, fold.dialect).renderer
    with pytest.raises(InvalidEventData):
        async with fold.transaction(renderer) as tx:
            await strict.apply(tx, bad)
    await fold.close()


async def test_a_fold_decodes_as_they_come_the_sets_of_streams_the_live_projection_refused(
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream the live projection parked or dead-lettered (`strict_streams`): its sets are
    decoded as they come, so a superseded one that does not decode is refused in the fold as it
    was live (and dead-lettered again), while every other stream's sets are still left."""
    history, first_sets = await _history_with_sets_again(catalogue, ids, recorder)
    _, refused = first_sets[0]
    projection = PortfolioProjection(strict_streams={refused.stream_id})
    decoded = _count_set_decodes(monkeypatch)
    fold = await _fold(tmp_path, history, projection)
    of_the_stream = [
        e.data for _, e in history if e.type == SET and e.stream_id == refused.stream_id
    ]
    assert len(of_the_stream) >= 2  # a superseded set among them
    assert decoded == of_the_stream  # that stream's, as they came; no other
    bad = _data(refused, lambda data: data.update(unexpected=1))
    with pytest.raises(InvalidEventData):
        async with fold.transaction(layout_of(projection, fold.dialect).renderer) as tx:
            await projection.apply(tx, bad)
    await fold.close()


async def test_the_streams_refused_live_are_the_parked_or_dead_lettered_recommendation_streams(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = await SqliteReadModel.open(tmp_path / "live.sqlite3")
    projection = PortfolioProjection()
    await live.install(projection)
    assert await recommender.streams_refused_live(live, projection.name) == frozenset()
    renderer = layout_of(projection, live.dialect).renderer
    async with live.transaction(renderer) as tx:
        await live.park(tx, projection.name, "recommender", "recommendations-a", 3, "refused")
        await live.park(tx, projection.name, "identity", "participant-b", 1, "refused")
        values = ("recommendations-c", 2, 7, "e", SET, b"{}", b"{}", "t")
        await live.record_dead_letter(tx, projection.name, "recommender", 0, 7, values, "k", "r")
    with caplog.at_level("WARNING"):
        streams = await recommender.streams_refused_live(live, projection.name)
    assert streams == {"recommendations-a", "recommendations-c"}
    assert [record.streams for record in caplog.records] == [2]  # type: ignore[attr-defined]
    await live.close()
