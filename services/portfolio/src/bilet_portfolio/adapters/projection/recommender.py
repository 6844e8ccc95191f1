"""The recommender's events in the portfolio: the recommendations issued to a participant, one
set per season."""

from typing import Any, Final, NamedTuple

from bilet.contracts import decode
from bilet.contracts.catalogue import recommender
from bilet.projections import ReadModelTx
from bilet_portfolio.adapters.projection.json_columns import to_json
from bilet_portfolio.adapters.projection.step import Handler, Step, by_event_type, take_left

# The parts of a set kept as JSON columns. They are turned into JSON values by one pass of
# pydantic-core's serialiser over the event, not one `model_dump` per item of each list: a set is
# the largest event a participant has, and its JSON the most of the projection's CPU (ADR 0079).
_JSON_PARTS: Final[set[str]] = {
    "rules",
    "basis",
    "leading_environments",
    "study_plan",
    "opportunities",
    "environment_scores",
    "profile_classes",
    "routes",
}


def _json_or_null(value: Any) -> str | None:
    return None if value is None else to_json(value)


async def _issued(step: Step, event: recommender.RecommendationsIssued) -> None:
    # One stream per participant: the later set of a season replaces the earlier one. In a
    # rebuild's fold only the last is written, before the copy (ADR 0097: a participant is
    # issued several sets a season, and a set's JSON is the projection's dearest work).
    await step.ensure_participant(event.participant_id)
    participant_id = step.text_of(event.participant_id)
    if step.folded:
        step.leave_set(participant_id, event.season)
    else:
        await _write_set(step.tx, event, participant_id, step.at)
    await step.portfolio_changed(event.participant_id)


async def _write_set(
    tx: ReadModelTx, event: recommender.RecommendationsIssued, participant_id: str, at: str
) -> None:
    """The set's rows, replacing the participant's earlier set of the season."""
    parts = event.model_dump(mode="json", include=_JSON_PARTS)
    await tx.execute(
        "INSERT INTO {recommendations} (participant_id, season, recommendation_set_id, rules, "
        "basis, leading_environments, study_plan, opportunities, supersedes, issued_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (participant_id, season) DO UPDATE SET "
        "recommendation_set_id = excluded.recommendation_set_id, rules = excluded.rules, "
        "basis = excluded.basis, leading_environments = excluded.leading_environments, "
        "study_plan = excluded.study_plan, opportunities = excluded.opportunities, "
        "supersedes = excluded.supersedes, issued_at = excluded.issued_at",
        participant_id,
        event.season,
        str(event.recommendation_set_id),
        to_json(parts["rules"]),
        to_json(parts["basis"]),
        to_json(parts["leading_environments"]),
        to_json(parts["study_plan"]),
        to_json(parts["opportunities"]),
        None if event.supersedes is None else str(event.supersedes),
        at,
    )
    # A set issued as version 1 reads with nulls: it published none of them.
    await tx.execute(
        "INSERT INTO {recommendation_outlooks} (participant_id, season, environment_scores, "
        "profile_classes, routes) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (participant_id, season) DO UPDATE SET "
        "environment_scores = excluded.environment_scores, "
        "profile_classes = excluded.profile_classes, routes = excluded.routes",
        participant_id,
        event.season,
        _json_or_null(parts["environment_scores"]),
        _json_or_null(parts["profile_classes"]),
        _json_or_null(parts["routes"]),
    )


class _Recorded(NamedTuple):
    """What decoding needs of a set a fold left (`bilet.contracts.codec.StoredEvent`)."""

    type: str
    data: bytes
    metadata: bytes


def _metadata(schema_version: int) -> bytes:
    """The metadata decoding reads: the schema version the set was written in (all a fold keeps
    of its metadata, `Step.leave_set`)."""
    return b'{"schema_version":%d}' % schema_version


async def write_left_sets(tx: ReadModelTx, chunk: int) -> bool:
    """Before a fold's copy: up to `chunk` of the last sets of each participant's season that
    the fold left (`Step.leave_set`), decoded again and written as the live path writes them:
    whether there were any."""
    rows = await take_left(
        tx,
        "portfolio_left_sets",
        "participant_id, season",
        "type, data, schema_version, issued",
        chunk,
    )
    for participant_id, _, kind, data, version, issued in rows:
        event = decode(_Recorded(kind, data, _metadata(version)))
        assert isinstance(event, recommender.RecommendationsIssued)  # the only sets left
        await _write_set(tx, event, participant_id, issued)
    return bool(rows)


HANDLERS: Final[dict[str, Handler]] = by_event_type(
    (recommender.RecommendationsIssued, _issued),
)
