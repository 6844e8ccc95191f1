"""`docs/contracts/` is what `make contracts` generates now, and the AsyncAPI document is valid
AsyncAPI 3.0 whose messages are exactly what the relay puts on Kafka."""

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bilet.contracts import CATALOGUE, EventMetadata, encode
from bilet.contracts.asyncapi import asyncapi_document, headers_schema
from bilet.contracts.cloudevents import to_record, topic_of
from bilet.contracts.examples import EXAMPLES
from bilet.contracts.export import generated_files
from bilet.eventstore import RecordedEvent

REPO = Path(__file__).resolve().parents[2]
# The official JSON Schema of AsyncAPI 3.0.0, from @asyncapi/specs 6.11.1 (Apache-2.0).
ASYNCAPI_SCHEMA = Path(__file__).with_name("asyncapi-3.0.0.schema.json")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def test_the_committed_contract_documents_are_not_stale() -> None:
    stale = [
        str(path)
        for path, text in generated_files().items()
        if not (REPO / path).exists() or (REPO / path).read_text(encoding="utf-8") != text
    ]
    assert stale == [], f"run `make contracts` and commit: {stale}"
    committed = {p.name for p in (REPO / "docs/contracts/schemas").glob("*.json")}
    generated = {p.name for p in generated_files() if p.suffix == ".json"}
    assert committed == generated


def test_the_yaml_reads_back_as_the_document(document: dict[str, Any]) -> None:
    text = (REPO / "docs/contracts/asyncapi.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text) == document


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)
    ]
    assert errors == []
    broken = copy.deepcopy(document)
    broken["operations"]["identityPublishes"]["action"] = "publish"  # AsyncAPI 2's word
    assert not validator.is_valid(broken)  # the validator does look


def _references(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for item in node for r in _references(item)]
    return []


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for reference in _references(document):
        assert reference.startswith("#/"), reference
        target: Any = document
        for part in reference[2:].split("/"):
            assert part in target, reference
            target = target[part]


def test_one_channel_per_producing_service_with_every_version(document: dict[str, Any]) -> None:
    channels = document["channels"]
    assert list(channels) == list(CATALOGUE.producers())
    for service, channel in channels.items():
        assert channel["address"] == topic_of(service)
        expected = [
            f"{event_type}.v{version}"
            for event_type in CATALOGUE.event_types_of(service)
            for version in CATALOGUE.versions(event_type)
        ]
        assert list(channel["messages"]) == expected
        operation = document["operations"][f"{service}Publishes"]
        assert operation["action"] == "send"
        assert len(operation["messages"]) == len(expected)


@pytest.mark.parametrize(
    "model", list(CATALOGUE.all_versions()), ids=lambda m: f"{m.event_type}.v{m.schema_version}"
)
def test_a_record_the_relay_writes_matches_its_message(
    document: dict[str, Any], model: Any
) -> None:
    # Given the newest version written by a producer, or an old one as it sits in the store.
    data = EXAMPLES[(model.event_type, model.schema_version)]
    event = model.model_validate_json(json.dumps(data))
    if CATALOGUE.latest(model.event_type) is model:
        new = encode(event, EventMetadata(correlation_id="c-1", traceparent="00-ab-cd-01"))
        payload, metadata = new.data, new.metadata
    else:
        payload = json.dumps(data).encode()
        metadata = EventMetadata(schema_version=model.schema_version).to_json()
    recorded = RecordedEvent(
        stream_id=event.stream_id,
        version=3,
        position=77,
        event_id=uuid.uuid4(),
        type=model.event_type,
        data=payload,
        metadata=metadata,
        recorded_at=datetime.now(UTC),
    )
    # When the relay maps it to a Kafka record.
    record = to_record(recorded, model.service)
    # Then its headers, key and value are what the AsyncAPI message promises.
    message = document["components"]["messages"][f"{model.event_type}.v{model.schema_version}"]
    headers = {name: value.decode() for name, value in record.headers}
    jsonschema.validate(headers, headers_schema())
    for name, rule in message["headers"]["allOf"][1]["properties"].items():
        assert headers[name] == rule["const"]
    key_rule = message["bindings"]["kafka"]["key"]
    jsonschema.validate(record.key.decode(), key_rule)
    committed = json.loads(
        (
            REPO / f"docs/contracts/schemas/{model.event_type}.v{model.schema_version}.json"
        ).read_text()
    )
    jsonschema.Draft202012Validator(committed, format_checker=jsonschema.FormatChecker()).validate(
        json.loads(record.value)
    )
