"""RecommendationsIssued v2 in the portfolio (docs/adr/0048): given a set issued as version 1 and
then one issued as version 2, the pupil's document shows the scores, profile classes and routes
of version 2, and nulls for version 1 (which published none of them)."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bilet.contracts.examples import EXAMPLES, PARTICIPANT
from bilet.eventstore import RecordedEvent
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters.readmodel import SqlPortfolioReader
from bilet_portfolio.adapters.testing import apply_in_order
from bilet_portfolio.domain.views import RecommendationRecord

STREAM = f"recommendations-{PARTICIPANT}"


def _stored(version: int, position: int) -> tuple[str, RecordedEvent]:
    data = EXAMPLES[("RecommendationsIssued", version)]
    return (
        "recommender",
        RecordedEvent(
            stream_id=STREAM,
            version=position - 1,
            position=position,
            event_id=uuid.uuid4(),
            type="RecommendationsIssued",
            data=json.dumps(data).encode(),
            metadata=json.dumps({"schema_version": version}).encode(),
            recorded_at=datetime(2019, 12, position, tzinfo=UTC),
        ),
    )


async def _shown(reader: SqlPortfolioReader) -> RecommendationRecord:
    snapshot = await reader.portfolio(PARTICIPANT, lambda _: True)
    assert snapshot is not None
    assert snapshot.record is not None
    (shown,) = snapshot.record.recommendations
    return shown


async def test_a_v1_set_shows_nulls_and_a_v2_set_shows_its_scores_classes_and_routes(
    tmp_path: Path,
) -> None:
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    reader = SqlPortfolioReader(read_model)
    await apply_in_order(read_model, [_stored(1, 1)])
    first = await _shown(reader)
    assert (first.environment_scores, first.profile_classes, first.routes) == (None, None, None)
    assert first.leading_environments == ["smart", "industrial"]

    await apply_in_order(read_model, [_stored(2, 2)])
    second = await _shown(reader)
    v2 = EXAMPLES[("RecommendationsIssued", 2)]
    assert second.environment_scores == v2["environment_scores"]
    assert second.profile_classes == v2["profile_classes"]
    assert second.routes == v2["routes"]
    assert [r["after_grade"] for r in second.routes or []] == [9, 11]
    await read_model.close()
