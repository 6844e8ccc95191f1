"""Every published type has a typed table, and its rows hold no sealed field and no id of a
person or a person's record in the clear."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pyarrow as pa
import pytest

from bilet.analytics.columns import (
    ENVELOPE,
    ORGANISATIONAL_IDS,
    row_of,
    schema_of,
    table_name,
    table_of,
)
from bilet.analytics.pseudonyms import Pseudonymiser
from bilet.contracts import CATALOGUE, InvalidEventData, decode, sealed_fields
from bilet.contracts import examples as ex
from bilet.eventstore import RecordedEvent

PERSONAL_IDS = (
    ex.PARTICIPANT,
    ex.GUARDIAN,
    ex.CONSENT,
    ex.ATTEMPT,
    ex.ANSWER_SHEET,
    ex.BOOKING,
    ex.FEEDBACK,
    ex.MENTOR,
    ex.RECOMMENDATIONS,
)
ORGANISATIONS = (ex.REGION, ex.SCHOOL_3, ex.CAREER_EVENT, ex.ORGANISER)
PSEUDONYMISE = Pseudonymiser("unit", b"k" * 32)


def recorded(event_type: str, version: int) -> RecordedEvent:
    return RecordedEvent(
        stream_id="any-1",
        version=0,
        position=1,
        event_id=uuid4(),
        type=event_type,
        data=json.dumps(ex.EXAMPLES[(event_type, version)]).encode(),
        metadata=json.dumps({"schema_version": version}).encode(),
        recorded_at=datetime(2019, 10, 14, 9, 30, tzinfo=UTC),
    )


def table_from(stored: RecordedEvent, *, validated: bool) -> pa.Table:
    row = row_of(stored, validated=validated)
    taken = (stored.event_id, stored.recorded_at, CATALOGUE.service_of(stored.type), row)
    return table_of(stored.type, [taken], PSEUDONYMISE)


@pytest.mark.parametrize(("event_type", "version"), sorted(ex.EXAMPLES))
def test_every_version_of_every_type_becomes_a_row_of_its_typed_table(
    event_type: str, version: int
) -> None:
    stored = recorded(event_type, version)
    event = decode(stored)
    table = table_from(stored, validated=True)
    assert table.num_rows == 1
    assert table.schema == schema_of(event_type)
    # read as stored or validated again, the same row
    assert table.equals(table_from(stored, validated=False))
    assert not set(sealed_fields(type(event))) & set(table.column_names)
    assert "accessibility_needs" not in table.column_names  # health-derived, also in the clear
    text = json.dumps(table.to_pylist(), default=str)
    for person in PERSONAL_IDS:
        assert person not in text
    assert "$enc" not in text
    data = stored.data.decode()
    for organisation in ORGANISATIONS:
        if organisation in data:
            assert organisation in text, f"{organisation} is an organisation's id"


def test_tables_are_typed() -> None:
    schema = schema_of("CareerEventPublished")
    session = schema.field("sessions").type.value_type
    assert session.field("starts_at").type == pa.timestamp("us", tz="UTC")
    assert session.field("capacity").type == pa.int64()
    assert schema.field("recorded_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("environments").type == pa.list_(pa.string())
    assert pa.types.is_struct(schema.field("venue").type)
    assert schema_of("ConsentVerified").field("valid_until").type == pa.date32()
    assert table_name("ParticipantRegistered") == "participant_registered"


def test_the_organisations_kept_in_the_clear_are_fields_of_published_events() -> None:
    names: set[str] = set()
    for model in CATALOGUE.all_versions():
        names |= set(model.model_fields)
    assert ORGANISATIONAL_IDS - {"opportunity_id"} <= names


def test_the_analysts_docs_list_every_table_with_its_columns() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "analytics.md").read_text("utf-8")
    listed = {
        match[1]: re.findall(r"`(\w+)` [A-Z]", match[2])
        for match in re.finditer(r"^\| `(\w+)` \| \w+ \| (.*) \|$", docs, re.M)
    }
    envelope = {field.name for field in ENVELOPE}
    expected = {
        table_name(t): [n for n in schema_of(t).names if n not in envelope]
        for t in CATALOGUE.event_types()
    }
    assert listed == expected


def test_times_read_as_stored_are_the_instants_validation_gives() -> None:
    event_type = "CareerEventPublished"
    version = CATALOGUE.latest(event_type).schema_version
    data = json.loads(json.dumps(ex.EXAMPLES[(event_type, version)]))
    data["sessions"][0]["starts_at"] = "2019-10-14T12:30:00.250+03:00"  # an offset, a fraction
    stored = recorded(event_type, version)._replace(data=json.dumps(data).encode())
    table = table_from(stored, validated=True)
    assert table.equals(table_from(stored, validated=False))
    starts = table["sessions"].to_pylist()[0][0]["starts_at"]
    assert starts == datetime(2019, 10, 14, 9, 30, 0, 250_000, tzinfo=UTC)


def test_json_without_a_column_is_decoded_and_refused() -> None:
    event_type = "SeatBooked"
    stored = recorded(event_type, CATALOGUE.latest(event_type).schema_version)
    data = json.loads(stored.data)
    del data["participant_id"]
    with pytest.raises(InvalidEventData):
        row_of(stored._replace(data=json.dumps(data).encode()), validated=True)
    with pytest.raises(InvalidEventData):
        row_of(stored._replace(data=b"[1, 2"), validated=True)


@pytest.mark.parametrize(
    ("event_type", "version"),
    sorted(k for k in ex.EXAMPLES if k[1] < CATALOGUE.latest(k[0]).schema_version),
)
def test_an_older_version_read_from_a_store_is_upcast(event_type: str, version: int) -> None:
    stored = recorded(event_type, version)
    assert row_of(stored, validated=True) == decode(stored).model_dump(mode="json")
