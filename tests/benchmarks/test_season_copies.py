"""The benchmarks' season copies (`benchmarks/season_copies.py`): a copy replaces the season's
own ids with fresh ones, consistently, keeps the shared regions' ids, and stays valid."""

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from benchmarks.season_copies import _batches, _template
from bilet.contracts import CATALOGUE, decode
from bilet.contracts import examples as ex
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.eventstore import RecordedEvent

REGION_STREAM = f"region-{ex.REGION}"
PUPIL_STREAM = f"participant-{ex.PARTICIPANT}"


def _recorded(stream: str, event_type: str, position: int, **changes: Any) -> RecordedEvent:
    version = CATALOGUE.latest(event_type).schema_version
    data = {**ex.EXAMPLES[(event_type, version)], **changes}
    metadata = json.dumps({"schema_version": version}).encode()
    at = datetime(2026, 9, 1, tzinfo=UTC)
    return RecordedEvent(
        stream, 0, position, uuid.uuid4(), event_type, json.dumps(data).encode(), metadata, at
    )


def _season() -> dict[str, list[RecordedEvent]]:
    return {
        "identity": [
            _recorded(REGION_STREAM, "RegionAdmitted", 1),
            _recorded(f"school-{ex.SCHOOL_3}", "SchoolRegistered", 2, school_id=ex.SCHOOL_3),
            _recorded(PUPIL_STREAM, "ParticipantRegistered", 3, school_id=ex.SCHOOL_3),
        ]
    }


def test_a_copy_has_fresh_own_ids_keeps_the_regions_and_stays_valid() -> None:
    template = _template(1, _season())
    assert ex.REGION not in template.own_ids
    assert {ex.PARTICIPANT, ex.SCHOOL_3} <= template.own_ids
    assert [e.stream_id for e in template.shared["identity"]] == [REGION_STREAM]

    rng = random.Random(7)
    id_maps = [template.copy_ids(rng) for _ in range(2)]
    appends = [a for batch in _batches(template.copied["identity"], id_maps) for a in batch]

    registrations = [
        (append.stream_id, event)
        for append in appends
        for event in append.events
        if event.type == "ParticipantRegistered"
    ]
    assert len(registrations) == 2
    pupils: set[str] = set()
    for stream, event in registrations:
        recorded = RecordedEvent(
            stream,
            0,
            1,
            event.event_id,
            event.type,
            event.data,
            event.metadata,
            datetime(2026, 9, 1, tzinfo=UTC),
        )
        registered = decode(recorded)  # still a valid event of the catalogue
        assert isinstance(registered, ParticipantRegistered)
        pupil = str(registered.participant_id)
        assert pupil != ex.PARTICIPANT
        assert stream == f"participant-{pupil}"  # the stream follows its pupil
        assert str(registered.region_id) == ex.REGION
        assert str(registered.school_id) != ex.SCHOOL_3
        pupils.add(pupil)
    assert len(pupils) == 2  # each copy has its own pupil
    schools = {a.stream_id for a in appends if a.stream_id.startswith("school-")}
    assert len(schools) == 2
    assert f"school-{ex.SCHOOL_3}" not in schools
