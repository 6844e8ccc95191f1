"""Given a recorded `RecommendationsIssued`, when the read side reads its head (ADR 0109), then it
holds exactly what the contract's full decode gives for those fields, whatever version the set
was written as, and a head that does not validate is a contract error, as `decode`'s would be."""

import json
from uuid import UUID, uuid4

import pytest

from bilet.contracts import CATALOGUE, decode
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.contracts.registry import ContractError
from bilet.contracts.vocabulary import Environment
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import NewEvent, RecordedEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.application.issued_head import IssuedHead, issued_head
from bilet_recommender.application.issuing import Issuing, stream_id
from bilet_recommender.domain import evidence as evidence_fold
from bilet_recommender.domain.offers import Opportunities
from bilet_recommender.domain.recommend import compute
from bilet_recommender.issuing_testing import recorded
from bilet_recommender.testing import NOW, completed_pupil, evidence_of

REGION = UUID("00000000-0000-0000-0000-000000000047")


def _a_set() -> RecommendationsIssued:
    participant_id = uuid4()
    facts = completed_pupil(
        participant_id, REGION, {Environment.SMART: 70, Environment.AGRARIAN: 40}
    )
    evidence = evidence_of(participant_id, *facts)
    found = compute(
        evidence, Opportunities(as_of=NOW, offers=(), environments_of=()), current_rules()
    )
    assert found is not None
    return found.event


_READ: tuple[str, ...] = (
    "recommendation_set_id",
    "participant_id",
    "season",
    "leading_environments",
)


def _head_of(head: IssuedHead | RecommendationsIssued) -> tuple[object, ...]:
    return tuple(getattr(head, name) for name in _READ)


def test_a_set_of_the_newest_version_reads_as_its_full_decode() -> None:
    [stored] = recorded([_a_set()])
    full = decode(stored)
    assert isinstance(full, RecommendationsIssued)

    assert _head_of(issued_head(stored)) == _head_of(full)


def _as_version_1(stored: RecordedEvent) -> RecordedEvent:
    """The set as a runtime of version 1 wrote it."""
    data = json.loads(stored.data)
    for published_in_v2 in ("environment_scores", "profile_classes", "routes"):
        del data[published_in_v2]
    metadata = json.loads(stored.metadata)
    metadata["schema_version"] = 1
    v1 = stored._replace(data=json.dumps(data).encode(), metadata=json.dumps(metadata).encode())
    CATALOGUE.model(RecommendationsIssued.event_type, 1).model_validate_json(v1.data)
    return v1


def test_a_set_written_as_version_1_reads_through_its_upcast() -> None:
    event = _a_set()
    [stored] = recorded([event])

    assert _head_of(issued_head(_as_version_1(stored))) == _head_of(event)


@pytest.mark.parametrize("version_1", [True, False], ids=["version 1", "current"])
async def test_in_force_folds_the_streams_last_set_as_its_full_decode_does(
    version_1: bool,
) -> None:
    # Given a participant's stream whose last event is a set (as either version wrote it)
    event = _a_set()
    [stored] = recorded([event])
    if version_1:
        stored = _as_version_1(stored)
    store = InMemoryEventStore()
    await store.append(
        stream_id(event.participant_id), [NewEvent(stored.type, stored.data, stored.metadata)]
    )
    issuing = Issuing(store, InMemoryKeyStore(), current_rules(), lambda: NOW)
    before = evidence_fold.initial(event.participant_id)
    full = decode(stored)
    assert isinstance(full, RecommendationsIssued)
    expected = evidence_fold.evolve(before, full)
    assert expected != before
    # When the set in force is looked up, then it is folded as the full decode folds it
    assert await issuing.in_force(before) == expected
    # and evidence that holds it already is left as it is.
    assert await issuing.in_force(expected) == expected


@pytest.mark.parametrize(
    "change",
    [
        {"leading_environments": []},
        {"season": 1999},
        {"season": "2026"},  # strict, as the contract's `decode` is: no coercion
        {"season": 2026.0},
        {"participant_id": "nobody"},
    ],
)
def test_a_head_that_does_not_validate_is_a_contract_error(change: dict[str, object]) -> None:
    [stored] = recorded([_a_set()])
    broken: RecordedEvent = stored._replace(
        data=json.dumps({**json.loads(stored.data), **change}).encode()
    )

    with pytest.raises(ContractError):
        issued_head(broken)
    with pytest.raises(ContractError):  # as the contract refuses it
        decode(broken)


def test_the_fold_of_a_head_is_the_fold_of_the_set() -> None:
    event = _a_set()
    evidence = evidence_of(event.participant_id)
    head = issued_head(recorded([event])[0])

    assert evidence_fold.set_issued(
        evidence, head.season, head.recommendation_set_id
    ) == evidence_fold.evolve(evidence, event)
