"""The recommender's events in the portfolio: the recommendations issued to a participant, one
set per season."""

import logging
from collections.abc import Collection
from typing import Any, Final, NamedTuple

from bilet.contracts import ContractError, decode
from bilet.contracts.catalogue import recommender
from bilet.contracts.leading import LeadingFields
from bilet.projections import ReadModel, ReadModelTx
from bilet_portfolio.adapters.projection.json_columns import (
    FieldsJson,
    NotPlain,
    plain_models,
    to_json,
)
from bilet_portfolio.adapters.projection.step import Handler, Step, by_event_type, take_left

_log = logging.getLogger(__name__)

# The parts of a set kept as JSON columns, each encoded once, by orjson from the models' fields
# (ADR 0102; before, one pass of pydantic-core's serialiser over the parts, ADR 0079): a set is
# the largest event a participant has, and its JSON the most of the projection's CPU.
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


# The set's models as written by `FieldsJson`: all of them, today (a unit test says so).
_FIELDS_JSON: Final = FieldsJson(plain_models(recommender.RecommendationsIssued))


def _json_or_null(value: Any) -> str | None:
    return None if value is None else to_json(value)


_SET: Final = (
    "INSERT INTO {recommendations} (participant_id, season, recommendation_set_id, rules, "
    "basis, leading_environments, study_plan, opportunities, supersedes, issued_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (participant_id, season) DO UPDATE SET "
    "recommendation_set_id = excluded.recommendation_set_id, rules = excluded.rules, "
    "basis = excluded.basis, leading_environments = excluded.leading_environments, "
    "study_plan = excluded.study_plan, opportunities = excluded.opportunities, "
    "supersedes = excluded.supersedes, issued_at = excluded.issued_at"
)
# A set issued as version 1 reads with nulls: it published none of them.
_OUTLOOK: Final = (
    "INSERT INTO {recommendation_outlooks} (participant_id, season, environment_scores, "
    "profile_classes, routes) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (participant_id, season) DO UPDATE SET "
    "environment_scores = excluded.environment_scores, "
    "profile_classes = excluded.profile_classes, routes = excluded.routes"
)


# The most sets (~16 KB of text each) a live transaction holds before it writes them.
SETS_HELD: Final = 500

# A set's two rows: `_SET`'s and `_OUTLOOK`'s.
_Rows = tuple[tuple[Any, ...], tuple[Any, ...]]


class _IssuedSets:
    """The sets one live transaction applied, the last of each participant's season only: a
    set's two upserts replace the season's rows whole and nothing reads them before the counts
    and documents (`Step.before_counts`), so the rows the last leaves are the rows applying them
    one by one leaves. Written at once, a statement per table (ADR 0102): on PostgreSQL one
    statement over arrays each (ADR 0089), where the handler's upserts, interleaved with the
    participant's row and lock, went one round trip apiece. Kept as the rows' text, not as the
    decoded events: hundreds of objects each, which the collector would walk again and again
    until the commit."""

    def __init__(self) -> None:
        self.sets: dict[tuple[str, int], _Rows] = {}

    async def before_commit(self, tx: ReadModelTx) -> None:
        await write_sets(tx, self.sets.values())


SET: Final = recommender.RecommendationsIssued.event_type
# What decides which set of a fold survives (the participant's season), read without decoding
# the set (ADR 0107).
_SEASON_OF: Final = LeadingFields(recommender.RecommendationsIssued, ("participant_id", "season"))


async def streams_refused_live(read_model: ReadModel, projection: str) -> frozenset[str]:
    """The recommendation streams the live projection has parked or dead-lettered (a small
    table each), for a fold to decode their sets as they come (`PortfolioProjection`'s
    `strict_streams`): a superseded set that does not decode is never read by a fold otherwise
    (ADR 0107), and the rebuild's switch, replacing the live dead letters and parked streams with
    the fold's, would drop its dead letter and unpark the stream without a word. (A set that
    went bad after the live projection's checkpoint is not among them: see the ADR.)"""
    category = recommender.RecommendationsIssued.stream_category + "-"
    parked = {stream.stream_id for stream in await read_model.parked(projection)}
    dead = {stream_id for stream_id, *_ in await read_model.dead_letters(projection)}
    streams = frozenset(stream for stream in parked | dead if stream.startswith(category))
    if streams:
        _log.warning(
            "the fold decodes every set of the recommendation streams the live read model "
            "parked or dead-lettered, to keep their dead letters",
            extra={"streams": len(streams)},
        )
    return streams


async def leave_undecoded(step: Step) -> bool:
    """In a rebuild's fold, a set left for the copy undecoded (ADR 0107): its participant and
    season read from its first bytes, and the set decoded only if it is still the last of that
    season before the copy (`write_left_sets`); a participant is issued ~4.4 sets a season, and
    decoding one is ~100 µs. Whether it was left: if its first fields cannot be read so
    (`LeadingFields` answers None), the caller decodes it and applies it as ever."""
    leading = _SEASON_OF(step.recorded)
    if leading is None:
        return False
    participant_id, season = leading
    await _leave(step, participant_id, season)
    return True


async def _leave(step: Step, participant_id: object, season: int) -> None:
    await step.ensure_participant(participant_id)
    step.leave_set(step.text_of(participant_id), season)
    await step.portfolio_changed(participant_id)


async def _issued(step: Step, event: recommender.RecommendationsIssued) -> None:
    # One stream per participant: the later set of a season replaces the earlier one, so only
    # the last of a transaction is written, before its commit, and in a rebuild's fold only the
    # last of the whole fold, before the copy (ADR 0097, 0102: a participant is issued several
    # sets a season, and a set's JSON is the projection's dearest work).
    if step.folded:
        await _leave(step, event.participant_id, event.season)
        return
    await step.ensure_participant(event.participant_id)
    participant_id = step.text_of(event.participant_id)
    sets = step.before_counts(_IssuedSets).sets
    sets[(participant_id, event.season)] = set_rows(event, participant_id, step.at)
    if len(sets) >= SETS_HELD:
        # A long transaction (a rebuild that does not fold) holds no more than this many
        # sets' text: nothing reads the tables before the counts, and a later set of the
        # same season replaces the row written now.
        await write_sets(step.tx, sets.values())
        sets.clear()
    await step.portfolio_changed(event.participant_id)


def set_rows(event: recommender.RecommendationsIssued, participant_id: str, at: str) -> _Rows:
    """The set's rows (with its participant id's text and time issued), each JSON column
    encoded once (`_parts_json`)."""
    parts = _parts_json(event)
    return (
        (
            participant_id,
            event.season,
            str(event.recommendation_set_id),
            parts["rules"],
            parts["basis"],
            parts["leading_environments"],
            parts["study_plan"],
            parts["opportunities"],
            None if event.supersedes is None else str(event.supersedes),
            at,
        ),
        (
            participant_id,
            event.season,
            parts["environment_scores"],
            parts["profile_classes"],
            parts["routes"],
        ),
    )


def _parts_json(event: recommender.RecommendationsIssued) -> dict[str, str | None]:
    """The text of each JSON column (None for a part the set's version did not publish): written
    by orjson from the models' fields (`FieldsJson`, ADR 0102); should a part hold what that
    does not write as pydantic's JSON mode does, from one pass of the serialiser over the
    event's parts instead (ADR 0079)."""
    try:
        return {
            part: None if (value := getattr(event, part)) is None else _FIELDS_JSON(value)
            for part in _JSON_PARTS
        }
    except NotPlain:
        parts = event.model_dump(mode="json", include=_JSON_PARTS)
        return {part: _json_or_null(parts[part]) for part in _JSON_PARTS}


async def write_sets(tx: ReadModelTx, sets: Collection[_Rows]) -> None:
    """Sets' rows (`set_rows`, at most one set per participant and season), replacing the
    participants' earlier sets of the season: one `executemany` per table."""
    if sets:
        await tx.executemany(_SET, [recommendations for recommendations, _ in sets])
        await tx.executemany(_OUTLOOK, [outlooks for _, outlooks in sets])


class LeftSetRefused(RuntimeError):
    """The last set of a participant's season, left undecoded by a fold (ADR 0107), does not
    decode before the copy. A live catch-up would have dead-lettered it when it came and parked
    the participant's stream of sets, leaving their earlier set, which the fold did not keep:
    the rebuild stops before its copy (the live tables untouched) rather than differ from it,
    and stops so again on every rerun. A strict fold (`BVB_PORTFOLIO_REBUILD_FOLD_STRICT=true`)
    decodes every set as it comes, at the fold's speed before ADR 0107, and dead-letters this
    one as a live catch-up does."""

    def __init__(self, participant_id: str, season: int, why: object) -> None:
        super().__init__(
            f"the last recommendation set of participant {participant_id}'s season {season} "
            f"does not decode ({why}): a live catch-up dead-letters it and parks the stream; "
            "rebuild with BVB_PORTFOLIO_REBUILD_FOLD_STRICT=true to do the same"
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
    sets = []
    for participant_id, season, kind, data, version, issued in rows:
        try:
            event = decode(_Recorded(kind, data, _metadata(version)))
        except ContractError as error:
            raise LeftSetRefused(participant_id, season, error) from None
        assert isinstance(event, recommender.RecommendationsIssued)  # the only sets left
        if (str(event.participant_id), event.season) != (participant_id, season):
            # Left under what `LeadingFields` read: it reads what decoding gives, or nothing.
            # (Should merging participants re-point their sets one day, ADR 0043, it must
            # re-key the sets left here too: this check would stop the fold otherwise.)
            raise LeftSetRefused(participant_id, season, "decoded as another participant or season")
        sets.append(set_rows(event, participant_id, issued))
    await write_sets(tx, sets)
    return bool(rows)


HANDLERS: Final[dict[str, Handler]] = by_event_type(
    (recommender.RecommendationsIssued, _issued),
)
