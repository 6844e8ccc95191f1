"""What the read side's projections read of a `RecommendationsIssued` (ADR 0109): the set's id,
participant, season and leading environments, validated from the recorded JSON without the
rest of the set.

The worker's read side projects every set it issued, twice (the evidence's `issued` and the
insights' leading environment), and the whole set (its scores, study plan, routes, opportunities
and every explanation) took longer to validate than anything else either projection does with
it: 0.59 ms of the 4.24 ms a paced set cost the worker's main thread at 200/s. A set of the
newest version is read here field by field; one of an older version goes through the
contract's `decode` and its upcasters, so what a projection gets never depends on the version
the set was written as. The fields read are the
contract's own (`IssuedHead` takes their types from `RecommendationsIssued`; a test checks that
each is there with the same annotation). Like the Kafka feed's partial decoding (ADR 0067), the
rest of the set is not checked here; the sets come from this service's own issuing step, which
validated them as it built them.
"""

from typing import Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bilet.contracts import decode
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.contracts.codec import schema_version_of
from bilet.contracts.registry import InvalidEventData
from bilet.contracts.vocabulary import Environments, Season
from bilet.eventstore import RecordedEvent

ISSUED: Final = RecommendationsIssued.event_type


class IssuedHead(BaseModel):
    """The fields of a `RecommendationsIssued` the projections read (the rest ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    recommendation_set_id: UUID
    participant_id: UUID
    season: Season
    leading_environments: Environments = Field(max_length=3)


_FIELDS: Final = tuple(IssuedHead.model_fields)


def issued_head(recorded: RecordedEvent) -> IssuedHead:
    """The head of a recorded `RecommendationsIssued`; `InvalidEventData` (a `ContractError`, as
    `decode` raises) when those fields do not validate."""
    if schema_version_of(recorded.metadata) != RecommendationsIssued.schema_version:
        full = decode(recorded)
        assert isinstance(full, RecommendationsIssued)
        return IssuedHead(**{name: getattr(full, name) for name in _FIELDS})
    try:
        return IssuedHead.model_validate_json(recorded.data)
    except ValidationError as error:
        raise InvalidEventData(f"{ISSUED}: {error.error_count()} invalid field(s)") from None
