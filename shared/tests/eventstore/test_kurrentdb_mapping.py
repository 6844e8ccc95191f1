"""The KurrentDB adapter's pure mapping, without a server: expectations, namespaced stream names,
the server-side filters, and conversions to and from the client's own event dataclasses.

The adapter's behaviour against a server is the contract suite (`test_contract.py`), which runs
on KurrentDB when `BVB_KURRENTDB_URL` names one.
"""

import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from kurrentdbclient import NewEvent as KurrentNewEvent
from kurrentdbclient import RecordedEvent as KurrentRecordedEvent
from kurrentdbclient import StreamState as KurrentStreamState
from kurrentdbclient.exceptions import GrpcError, WrongCurrentVersionError

from bilet.eventstore import ANY, NO_STREAM, STREAM_EXISTS, NewEvent, StreamMetadata
from bilet.eventstore.kurrentdb import (
    DELETED_TRUNCATE_BEFORE,
    MULTI_APPEND_METADATA_KEY,
    Selection,
    StreamNames,
    actual_version,
    is_known_position,
    is_unimplemented,
    kurrent_metadata,
    metadata_from_kurrent,
    recorded_from,
    to_current_version,
    to_new_event,
    unwrap_metadata,
    wrap_metadata,
)


def kurrent_event(
    stream_name: str,
    type_: str = "ParticipantRegistered",
    *,
    stream_position: int = 0,
    commit_position: int = 1024,
    metadata: bytes = b'{"actor": "system", "n": 1}',
    recorded_at: datetime | None = None,
) -> KurrentRecordedEvent:
    return KurrentRecordedEvent(
        type=type_,
        data=b'{"name": "\xd0\x90\xd0\xbd\xd0\xbd\xd0\xb0"}',
        metadata=metadata,
        content_type="application/json",
        id=uuid.uuid4(),
        stream_name=stream_name,
        stream_position=stream_position,
        commit_position=commit_position,
        prepare_position=commit_position,
        recorded_at=recorded_at,
    )


def matches(selection: Selection, stored_name: str, event_type: str = "Happened") -> bool:
    """What the server keeps: the client anchors the pattern as ^pattern$."""
    server = selection.server_filter
    subject = stored_name if server.by_stream_name else event_type
    return re.fullmatch(server.pattern, subject) is not None


# ------------------------------------------------------------------ expectations


def test_expectations_map_to_the_clients_stream_states_and_revisions() -> None:
    assert to_current_version(ANY) is KurrentStreamState.ANY
    assert to_current_version(NO_STREAM) is KurrentStreamState.NO_STREAM
    assert to_current_version(STREAM_EXISTS) is KurrentStreamState.EXISTS
    assert to_current_version(0) == 0
    assert to_current_version(41) == 41
    with pytest.raises(ValueError, match=">= 0"):
        to_current_version(-1)


def test_the_actual_version_of_a_refusal_is_none_for_no_stream() -> None:
    stale = WrongCurrentVersionError("stale", stream_name="s", actual_version=2, expected_version=1)
    absent = WrongCurrentVersionError(
        "absent", stream_name="s", actual_version=-1, expected_version=KurrentStreamState.EXISTS
    )
    assert actual_version(stale.actual_version) == 2
    assert absent.actual_version is KurrentStreamState.NO_STREAM  # the client maps -1 so
    assert actual_version(absent.actual_version) is None
    assert actual_version(None) is None
    assert actual_version(-1) is None
    assert actual_version(0) == 0


def test_an_append_without_a_position_is_recognised() -> None:
    assert is_known_position(4096)
    assert not is_known_position(0)  # protobuf's default when the server sends no position
    assert not is_known_position(2**64 - 1)  # a -1 that crossed as an unsigned integer


# ------------------------------------------------------------------ stream names


def test_a_namespace_prefixes_stored_names_and_keeps_the_category() -> None:
    names = StreamNames("t1f2e")
    assert names.stored("participant-1") == "t1f2e_participant-1"
    assert names.original("t1f2e_participant-1") == "participant-1"
    # KurrentDB's own category (before the first dash) stays one per namespace and category.
    assert names.stored("participant-1").split("-", 1)[0] == "t1f2e_participant"


def test_names_outside_the_namespace_or_system_names_are_not_ours() -> None:
    names = StreamNames("t1")
    assert names.original("t2_participant-1") is None
    assert names.original("participant-1") is None
    assert names.original("$$t1_participant-1") is None
    assert names.original("$ce-t1_participant") is None
    assert names.original("t1_") is None


def test_the_default_namespace_stores_names_as_given() -> None:
    names = StreamNames()
    assert names.stored("participant-1") == "participant-1"
    assert names.original("participant-1") == "participant-1"
    assert names.original("$et-Happened") is None


@pytest.mark.parametrize("namespace", ["with-dash", "dotted.name", "space d", "x" * 65, "ünï"])
def test_a_namespace_is_letters_digits_and_underscores(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        StreamNames(namespace)


@pytest.mark.parametrize("stream_id", ["", "$ce-participant", "$$participant-1"])
def test_system_or_empty_stream_ids_are_refused(stream_id: str) -> None:
    with pytest.raises(ValueError, match="stream id"):
        StreamNames("t1").stored(stream_id)


# ------------------------------------------------------------------ server-side filters


def test_a_namespace_filters_on_the_stream_name_prefix() -> None:
    selection = Selection.of(StreamNames("t1"))
    assert selection.server_filter.by_stream_name
    assert matches(selection, "t1_participant-1")
    assert matches(selection, "t1_school")
    assert not matches(selection, "t12_participant-1")
    assert not matches(selection, "participant-1")
    assert not matches(selection, "$$t1_participant-1")


def test_categories_filter_on_the_part_before_the_first_dash() -> None:
    selection = Selection.of(StreamNames("t1"), categories={"participant", "school"})
    assert matches(selection, "t1_participant-1")
    assert matches(selection, "t1_participant-1-extra")
    assert matches(selection, "t1_school")
    assert not matches(selection, "t1_participants-1")
    assert not matches(selection, "t1_reservation-1")
    assert not matches(selection, "t2_participant-1")


def test_category_names_are_escaped_not_taken_as_regular_expressions() -> None:
    selection = Selection.of(StreamNames(), categories={"a.b", "c|d"})
    assert matches(selection, "a.b-1")
    assert matches(selection, "c|d-1")
    assert not matches(selection, "axb-1")
    assert not matches(selection, "c-1")


def test_without_a_namespace_event_types_filter_on_the_server() -> None:
    selection = Selection.of(StreamNames(), event_types={"GuardianLinked", "School.Registered"})
    assert not selection.server_filter.by_stream_name
    assert matches(selection, "any-1", "GuardianLinked")
    assert matches(selection, "any-1", "School.Registered")
    assert not matches(selection, "any-1", "SchoolXRegistered")
    assert not matches(selection, "any-1", "GuardianLinkedAgain")


def test_the_whole_database_leaves_out_system_streams_on_the_server() -> None:
    selection = Selection.of(StreamNames())
    assert selection.server_filter.by_stream_name
    assert matches(selection, "participant-1")
    assert not matches(selection, "$ce-participant")
    assert not matches(selection, "$$participant-1")


def test_empty_or_impossible_selections_select_nothing() -> None:
    names = StreamNames("t1")
    assert Selection.of(names, categories=set()).is_empty
    assert Selection.of(names, event_types=[]).is_empty
    assert Selection.of(names, categories={"has-dash"}).is_empty
    assert not Selection.of(names, categories={"has-dash", "school"}).is_empty
    assert not Selection.of(names).is_empty


# ------------------------------------------------------------------ what the client keeps


def test_the_client_checks_namespace_category_and_type_again() -> None:
    selection = Selection.of(
        StreamNames("t1"), categories={"participant"}, event_types={"ParticipantRegistered"}
    )
    kept = selection.convert(kurrent_event("t1_participant-7"))
    assert kept is not None
    assert (kept.stream_id, kept.category) == ("participant-7", "participant")
    assert selection.convert(kurrent_event("t1_participant-7", "GuardianLinked")) is None
    assert selection.convert(kurrent_event("t1_school-7")) is None
    assert selection.convert(kurrent_event("t2_participant-7")) is None


def test_system_events_are_never_kept() -> None:
    selection = Selection.of(StreamNames())
    assert selection.convert(kurrent_event("$ce-participant", "$>")) is None
    assert selection.convert(kurrent_event("participant-1", "$metadata")) is None
    assert selection.convert(kurrent_event("$persistentSubscriptionConfig", "X")) is None
    assert selection.convert(kurrent_event("participant-1")) is not None


# ------------------------------------------------------------------ converting events


def test_a_recorded_event_keeps_every_field_and_the_server_timestamp() -> None:
    at = datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
    raw = kurrent_event(
        "t1_participant-7", stream_position=3, commit_position=987_654_321, recorded_at=at
    )
    recorded = recorded_from("participant-7", raw)
    assert recorded.stream_id == "participant-7"
    assert recorded.version == 3
    assert recorded.position == 987_654_321
    assert recorded.event_id == raw.id
    assert recorded.type == "ParticipantRegistered"
    assert json.loads(recorded.data) == {"name": "Анна"}
    assert recorded.metadata == raw.metadata
    assert recorded.recorded_at == at


def test_a_recorded_event_without_a_server_timestamp_gets_an_aware_now() -> None:
    before = datetime.now(UTC)
    recorded = recorded_from("participant-7", kurrent_event("participant-7", recorded_at=None))
    assert recorded.recorded_at.tzinfo is not None
    assert before <= recorded.recorded_at <= datetime.now(UTC)


def test_a_new_event_keeps_its_id_type_data_and_metadata() -> None:
    ours = NewEvent("ParticipantRegistered", b'{"n": 1}', b'{"actor": {"id": 7}}')
    theirs = to_new_event(ours)
    assert isinstance(theirs, KurrentNewEvent)
    assert (theirs.id, theirs.type, theirs.data) == (ours.event_id, ours.type, ours.data)
    assert theirs.metadata == ours.metadata
    assert theirs.content_type == "application/json"


def test_metadata_survives_a_multi_stream_append_that_carries_only_string_properties() -> None:
    metadata = b'{"actor": {"id": 7}, "tags": [1, 2], "name": "\xd0\xaf"}'
    wrapped = to_new_event(NewEvent("T", b"{}", metadata), multi_append=True).metadata
    properties = json.loads(wrapped)
    assert all(isinstance(value, str) for value in properties.values())
    assert unwrap_metadata(wrapped) == metadata
    # The server stores the properties as one JSON object, perhaps with keys of its own.
    stored = json.dumps({"$schema.name": "T", **properties}, separators=(",", ":")).encode()
    assert unwrap_metadata(stored) == metadata
    assert wrap_metadata(b"{}") == json.dumps({MULTI_APPEND_METADATA_KEY: "{}"}).encode()


@pytest.mark.parametrize(
    "stored", [b"{}", b'{"actor": "system"}', b"", b"not json", b'["bilet-metadata"]']
)
def test_metadata_written_by_a_single_stream_append_reads_back_as_is(stored: bytes) -> None:
    assert unwrap_metadata(stored) == stored


def test_a_recorded_event_unwraps_multi_stream_metadata() -> None:
    raw = kurrent_event("participant-1", metadata=wrap_metadata(b'{"n": 1}'))
    assert recorded_from("participant-1", raw).metadata == b'{"n": 1}'


# ------------------------------------------------------------------ stream metadata


def test_truncate_before_is_tb_and_the_maximum_tb_is_a_soft_delete() -> None:
    assert metadata_from_kurrent({}) == StreamMetadata()
    assert metadata_from_kurrent({"$tb": 3, "$maxAge": 60}) == StreamMetadata(truncate_before=3)
    assert metadata_from_kurrent({"$tb": DELETED_TRUNCATE_BEFORE}) == StreamMetadata(deleted=True)
    assert metadata_from_kurrent({"$tb": "3"}) == StreamMetadata()
    assert metadata_from_kurrent({"$tb": True}) == StreamMetadata()


def test_setting_truncate_before_keeps_other_keys_and_lifts_a_soft_delete() -> None:
    assert kurrent_metadata({"$acl": {"$r": "ops"}}, 5) == {"$acl": {"$r": "ops"}, "$tb": 5}
    assert kurrent_metadata({"$tb": DELETED_TRUNCATE_BEFORE}, 0) == {"$tb": 0}
    assert kurrent_metadata({"$tb": 2}, 4) == {"$tb": 4}


def test_setting_what_is_already_there_writes_nothing() -> None:
    assert kurrent_metadata({}, 0) is None
    assert kurrent_metadata({"$tb": 4}, 4) is None
    with pytest.raises(ValueError, match=">= 0"):
        kurrent_metadata({}, -1)


# ------------------------------------------------------------------ server capabilities


def test_a_server_without_multi_stream_append_is_recognised() -> None:
    # The client turns an unknown gRPC status into a GrpcError raised from the gRPC error.
    error = GrpcError("call failed")
    error.__cause__ = RuntimeError("<AioRpcError: StatusCode.UNIMPLEMENTED, Method not found>")
    assert is_unimplemented(error)
    assert is_unimplemented(GrpcError("<AioRpcError of RPC that terminated with UNIMPLEMENTED>"))
    assert not is_unimplemented(GrpcError("StatusCode.UNAVAILABLE"))
