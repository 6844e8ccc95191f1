"""What the portfolio projection names as changed in its transactions: what the update streams
sleep on (docs/adr/0059). Every event of a participant names that participant; reference data
shown on every portfolio names every key; nothing else is named."""

from pathlib import Path
from typing import TYPE_CHECKING

from bilet.contracts import decode
from bilet.projections import EVERY_KEY, Projector
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.testing import world_history

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder


async def test_every_event_names_the_participants_it_changes_and_reference_data_every_key(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    projection = PortfolioProjection()
    projector = Projector(read_model, projection)
    await projector.install()
    history = await world_history(catalogue, ids, recorder)
    pupils = {
        str(participant)
        for _, event in history
        if (participant := getattr(decode(event), "participant_id", None)) is not None
    }
    everything_named = 0
    try:
        for _, event in history:
            async with read_model.transaction(projector.layout.renderer) as tx:
                await projection.apply(tx, event)
            participant = getattr(decode(event), "participant_id", None)
            if participant is not None:
                assert str(participant) in tx.changes, event.type
            assert tx.changes <= pupils | {EVERY_KEY}, event.type
            everything_named += EVERY_KEY in tx.changes
    finally:
        await read_model.close()
    assert everything_named, "the history's reference data (schools, seasons) names every key"
