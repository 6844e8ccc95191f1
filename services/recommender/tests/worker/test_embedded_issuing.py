"""The embedded runtime: `issuing_projection` fed in-process from the source services' stores
(as `make run` does) issues each pupil's recommendations once into the recommender's store, and
only for pupils with a consent covering them and three stages completed."""

from pathlib import Path
from uuid import UUID

from bilet.crypto import InMemoryKeyStore
from bilet.eventstore.memory import InMemoryEventStore
from bilet_recommender.adapters.evidence_projection import (
    ReadModelEvidence,
)
from bilet_recommender.application.issuing import stream_id
from bilet_recommender.issuing_testing import (
    Season,
    build_season,
    check_chain,
    issued,
    run_embedded,
)
from bilet_recommender.testing import NOW


def career_events(season: Season) -> set[UUID]:
    return {e.career_event_id for e in season.career_events}


async def test_each_recommended_pupil_gets_one_set_and_no_one_else(tmp_path: Path) -> None:
    keystore = InMemoryKeyStore()
    season = await build_season(keystore, 30)
    recommender = InMemoryEventStore()
    read_model = await run_embedded(tmp_path, season, keystore, recommender)
    try:
        sets = await issued(recommender)
        assert set(sets) == season.recommended
        for participant_id, events in sets.items():
            check_chain(events)
            if participant_id in season.needing:  # opened with the health key: filtered on
                offered = {o.opportunity_id for o in events[-1].opportunities}
                assert offered & career_events(season) <= season.step_free
            stream = await recommender.read_stream(stream_id(participant_id))
            assert len(stream) == len(events)
        # With the catalogue in first, pupils are offered what is nearby.
        assert any(events[-1].opportunities for events in sets.values())
        assert season.needing & set(sets)
        evidence = await ReadModelEvidence(read_model).evidence(season.pupils[0])
        assert evidence is not None
        assert evidence.participant_id == season.pupils[0]
    finally:
        await read_model.close()


async def test_a_rebuild_over_the_same_history_issues_nothing_twice(tmp_path: Path) -> None:
    keystore = InMemoryKeyStore()
    season = await build_season(keystore, 20, seed=7)
    recommender = InMemoryEventStore()
    first = await run_embedded(tmp_path / "first", season, keystore, recommender)
    await first.close()
    before = await recommender.head_position()
    sets = await issued(recommender)
    # A new read model (lost, rebuilt): every fact is applied again from the start.
    again = await run_embedded(tmp_path / "again", season, keystore, recommender)
    await again.close()
    assert await recommender.head_position() == before
    assert await issued(recommender) == sets


async def test_the_region_catalogue_lists_career_events_and_clubs(tmp_path: Path) -> None:
    keystore = InMemoryKeyStore()
    season = await build_season(keystore, 2)
    recommender = InMemoryEventStore()
    read_model = await run_embedded(tmp_path, season, keystore, recommender)
    try:
        region = season.opportunities[0].region_id
        offers = await ReadModelEvidence(read_model).opportunities(region, NOW)
    finally:
        await read_model.close()
    titles = sorted(offer.title for offer in offers)
    assert titles == sorted(
        ["Кружок робототехники", "Профпроба №1", "Профпроба №2", "Профпроба №3", "Профпроба №4"]
    )
    assert {offer.region_id for offer in offers} == {region}
