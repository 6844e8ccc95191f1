"""Consumer-driven contracts: every consuming service states, in `consumers/<service>.json`, the
event fields it relies on; every producer's current schema, and the golden events of every
version read through the upcasters, must provide them."""

import json
from pathlib import Path

import pytest

from bilet.contracts import CATALOGUE, decode
from bilet.contracts.consumers import ConsumerContract, data_problems, load_all, verify
from bilet.eventstore import NewEvent

HERE = Path(__file__).resolve().parent
CONTRACTS = load_all(HERE / "consumers")
GOLDEN = HERE / "golden"

# ARCHITECTURE §1: services that keep read models of other services' facts.
CONSUMERS = {"identity", "consent", "diagnostics", "events", "portfolio", "recommender"}


def test_every_consuming_service_states_what_it_relies_on() -> None:
    assert {contract.consumer for contract in CONTRACTS} == CONSUMERS


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.consumer)
def test_the_producers_schemas_keep_the_consumers_expectations(contract: ConsumerContract) -> None:
    assert verify(contract) == []


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.consumer)
def test_golden_events_of_every_version_provide_what_the_consumer_reads(
    contract: ConsumerContract,
) -> None:
    problems: list[str] = []
    for event_type, reliance in contract.reads.items():
        for version in CATALOGUE.versions(event_type):
            sample = json.loads((GOLDEN / f"{event_type}.v{version}.json").read_text())
            stored = NewEvent(
                type=event_type,
                data=json.dumps(sample["data"]).encode(),
                metadata=json.dumps(sample["metadata"]).encode(),
            )
            data = decode(stored).model_dump(mode="json")
            problems.extend(
                f"{event_type} v{version}.{path}: {problem}"
                for path, expectation in reliance.fields.items()
                for problem in data_problems(data, path, expectation)
            )
    assert problems == []


def test_a_producer_change_that_breaks_a_consumer_is_caught() -> None:
    # The events service relies on the season's limit of career events; a producer renaming it
    # would break it. Simulated on the consumer side: the same check, a field that is not there.
    events = next(contract for contract in CONTRACTS if contract.consumer == "events")
    renamed = events.model_copy(
        update={
            "reads": {
                "SeasonRulesPublished": events.reads["SeasonRulesPublished"].model_copy(
                    update={"fields": {"max_events_per_participant": "integer"}}
                )
            }
        }
    )
    assert verify(renamed) == [
        "events reads SeasonRulesPublished.max_events_per_participant: "
        "no field 'max_events_per_participant' here"
    ]
