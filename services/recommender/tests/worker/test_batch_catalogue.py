"""The embedded projection's catalogue for one transaction (`BuiltCatalogue`, ADR 0115): an
offer the transaction writes reaches the rows it keeps in place of the old one, so every
catalogue it builds after the write is the one a fresh read in that transaction builds."""

import uuid
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from bilet.contracts.catalogue.events import BookingRoute, SeatBooked
from bilet.projections.readmodel.schema import layout_of
from bilet.projections.sqlite import SqliteReadModel
from bilet_recommender.adapters.evidence_projection import (
    EVIDENCE_PROJECTION,
    EvidenceBatch,
    TxCatalogue,
)
from bilet_recommender.domain.internal import OpportunityRevised, OpportunityWithdrawn
from bilet_recommender.issuing_testing import ENVIRONMENTS, _course, recorded
from bilet_recommender.testing import NOW, SEASON, career_event

REGION = UUID("6f1b0c4e-0000-4000-8000-000000000001")
ELSEWHERE = UUID("6f1b0c4e-0000-4000-8000-000000000002")


def _booked(published_event_id: UUID, session_id: UUID) -> SeatBooked:
    return SeatBooked(
        career_event_id=published_event_id,
        session_id=session_id,
        booking_id=uuid.uuid4(),
        participant_id=uuid.uuid4(),
        season=SEASON,
        route=BookingRoute.BOOKED,
    )


async def test_offers_written_in_the_transaction_reach_the_kept_catalogue(tmp_path: Path) -> None:
    here = career_event(REGION, ENVIRONMENTS[0], capacity=3)
    there = career_event(ELSEWHERE, ENVIRONMENTS[1], capacity=3)  # attended from another region
    club, other_club = _course(uuid.uuid4(), REGION), _course(uuid.uuid4(), REGION)
    revised = OpportunityRevised(
        **{
            **other_club.model_dump(exclude={"region_id"}),
            "title": "Кружок авиамоделирования",
            "ends_on": NOW.date() + timedelta(days=30),
        }
    )
    later = [
        _booked(here.career_event_id, here.sessions[0].session_id),
        _booked(there.career_event_id, there.sessions[0].session_id),
        revised,
        OpportunityWithdrawn(opportunity_id=club.opportunity_id),
        _course(uuid.uuid4(), REGION),  # a new row in the region
    ]
    events = recorded([here, there, club, other_club, *later])
    first, then = events[:4], events[4:]
    attended = [there.career_event_id]

    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    try:
        await read_model.install(EVIDENCE_PROJECTION)
        renderer = layout_of(EVIDENCE_PROJECTION, read_model.dialect).renderer
        async with read_model.transaction(renderer) as tx:
            for event in first:
                await EVIDENCE_PROJECTION.apply(tx, event)
            kept = tx.gathered(EvidenceBatch).catalogue(tx)
            before = await kept.opportunities(REGION, attended, NOW)
            assert before == await TxCatalogue(tx).opportunities(REGION, attended, NOW)
            assert await kept.opportunities(REGION, attended, NOW) is before  # built once
            for event in then:
                await EVIDENCE_PROJECTION.apply(tx, event)
                fresh = await TxCatalogue(tx).opportunities(REGION, attended, NOW)
                assert await kept.opportunities(REGION, attended, NOW) == fresh
            assert fresh != before
            # Both career events lost a seat, one club changed, one went, one came.
            seats = {o.opportunity_id: o.seats for o in fresh.offers}
            assert seats[here.career_event_id] == 2
            assert club.opportunity_id not in seats
            assert len(fresh.offers) == len(before.offers)
    finally:
        await read_model.close()


async def test_a_catalogue_built_per_moment_keeps_only_each_regions_last(tmp_path: Path) -> None:
    """With the runtime's clock every set has its own moment: the catalogues built for them
    must not pile up until the next write (one per region is kept, the last)."""
    events = recorded([_course(uuid.uuid4(), REGION), _course(uuid.uuid4(), ELSEWHERE)])
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    try:
        await read_model.install(EVIDENCE_PROJECTION)
        renderer = layout_of(EVIDENCE_PROJECTION, read_model.dialect).renderer
        async with read_model.transaction(renderer) as tx:
            for event in events:
                await EVIDENCE_PROJECTION.apply(tx, event)
            kept = tx.gathered(EvidenceBatch).catalogue(tx)
            for seconds in range(5):
                for region in (REGION, ELSEWHERE):
                    moment = NOW + timedelta(seconds=seconds)
                    built = await kept.opportunities(region, (), moment)
                    assert built == await TxCatalogue(tx).opportunities(region, (), moment)
            assert len(kept.built) == 2
            # The last moment of a region is still built once.
            assert await kept.opportunities(REGION, (), moment) is await kept.opportunities(
                REGION, (), moment
            )
    finally:
        await read_model.close()
