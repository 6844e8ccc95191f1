"""What the read side's projections read of a `RecommendationsIssued` (ADR 0109): the set's id,
participant, season and leading environments, validated from the recorded JSON without the
rest of the set.

The worker's read side projects every set it issued, twice (the evidence's `issued` and the
insights' leading environment), and validating the whole set (its scores, study plan, routes,
opportunities and every explanation) for four fields is most of what reading it costs (ADR 0109
and its amendment for the figures). A set of the newest version is read here field by field;
one of an older version goes through the contract's `decode` and its upcasters, so what a
projection gets never depends on the version the set was written as.

The head is built from the contract's own fields and configuration, as `bilet.contracts.leading`
builds what it reads: strict, as `decode` is (a season written as `"2026"` or `2026.0` is
refused here as there), the rest of the set ignored rather than forbidden. `IssuedHead` only
names the fields for the type checker, which checks that the contract's class has them. Like
the Kafka feed's partial decoding (ADR 0067), the rest of the set is not checked here; the sets
come from this service's own issuing step, which validated them as it built them.
"""

from typing import Final, Protocol, cast
from uuid import UUID

from pydantic import BaseModel, ValidationError, create_model

from bilet.contracts import decode
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.contracts.codec import schema_version_of
from bilet.contracts.registry import InvalidEventData
from bilet.contracts.vocabulary import Environments, Season
from bilet.eventstore import RecordedEvent

ISSUED: Final = RecommendationsIssued.event_type


class IssuedHead(Protocol):
    """The fields of a `RecommendationsIssued` the projections read, as the type checker sees
    them (what validates them is `_HEAD`, built from the contract)."""

    @property
    def recommendation_set_id(self) -> UUID: ...
    @property
    def participant_id(self) -> UUID: ...
    @property
    def season(self) -> Season: ...
    @property
    def leading_environments(self) -> Environments: ...


def _is_a_head(event: RecommendationsIssued) -> IssuedHead:
    return event  # mypy: the contract's class has each field `IssuedHead` names, as typed there


_FIELDS: Final = ("recommendation_set_id", "participant_id", "season", "leading_environments")
_CONTRACT: Final = RecommendationsIssued.model_fields
# The contract's definitions (types, bounds) and configuration (strict, frozen), the rest of the
# set ignored rather than forbidden.
_HEAD: Final[type[BaseModel]] = create_model(  # type: ignore[call-overload]
    "RecommendationsIssuedHead",
    __config__={**RecommendationsIssued.model_config, "extra": "ignore"},
    **{name: (_CONTRACT[name].annotation, _CONTRACT[name]) for name in _FIELDS},
)


def issued_head(recorded: RecordedEvent) -> IssuedHead:
    """The head of a recorded `RecommendationsIssued`; `InvalidEventData` (a `ContractError`, as
    `decode` raises) when those fields do not validate."""
    if schema_version_of(recorded.metadata) != RecommendationsIssued.schema_version:
        full = decode(recorded)
        assert isinstance(full, RecommendationsIssued)
        return _is_a_head(full)
    try:
        head = _HEAD.model_validate_json(recorded.data)
    except ValidationError as error:
        raise InvalidEventData(f"{ISSUED}: {error.error_count()} invalid field(s)") from None
    return cast(IssuedHead, head)  # `_HEAD`'s fields are the contract's, which `_is_a_head` checks
