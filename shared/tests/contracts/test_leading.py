"""`LeadingFields`: an event's first fields read from its data's first bytes. Whatever it reads is
what `decode` gives for those fields whenever `decode` succeeds; where it cannot be sure, it
answers None (and the reader decodes), and it raises only where `decode` raises the same."""

import json
import random
import uuid
from typing import Any, ClassVar
from uuid import UUID

import pytest
from pydantic import Field, field_validator, model_validator

from bilet.contracts import (
    ContractError,
    EventMetadata,
    InvalidEventData,
    UnknownSchemaVersion,
    decode,
    encode,
)
from bilet.contracts.base import DomainEvent
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.contracts.examples import EXAMPLES
from bilet.contracts.leading import LeadingFields
from bilet.contracts.registry import EventRegistry
from bilet.eventstore import NewEvent

SET = "RecommendationsIssued"
READ = LeadingFields(RecommendationsIssued, ("participant_id", "season"))
V2 = b'{"schema_version":2}'


def _written() -> NewEvent:
    """The catalogue's example of a set as the recommender writes it (`encode`)."""
    event = RecommendationsIssued.model_validate_json(json.dumps(EXAMPLES[(SET, 2)]))
    return encode(event, EventMetadata(actor="recommender", actor_role="service"))


def _with(data: bytes, metadata: bytes = V2) -> NewEvent:
    return NewEvent(type=SET, data=data, metadata=metadata)


def _participant(data: bytes) -> bytes:
    """The participant id's text in a set's data."""
    at = data.index(b'"participant_id":"') + len(b'"participant_id":"')
    return data[at : at + 36]


def _agrees(stored: NewEvent) -> Any:
    """What `READ` answered; it must be what `decode` gives whenever that succeeds."""
    leading = READ(stored)
    try:
        event = decode(stored)
    except ContractError:
        return leading
    if leading is not None:
        assert leading == (event.participant_id, event.season)  # type: ignore[attr-defined]
    return leading


def test_a_set_as_written_reads_its_participant_and_season_as_decoding_does() -> None:
    written = _written()
    event = decode(written)
    assert isinstance(event, RecommendationsIssued)
    assert READ(written) == (event.participant_id, event.season)
    assert isinstance(READ(written)[0], uuid.UUID)  # type: ignore[index]


def test_the_fields_are_read_in_the_order_named_whatever_their_order_in_the_data() -> None:
    written = _written()
    event = decode(written)
    assert isinstance(event, RecommendationsIssued)
    reversed_order = LeadingFields(RecommendationsIssued, ("season", "participant_id"))
    assert reversed_order(written) == (event.season, event.participant_id)


def test_another_type_or_a_set_written_in_version_1_is_not_read_so() -> None:
    v1 = NewEvent(SET, json.dumps(EXAMPLES[(SET, 1)]).encode(), b'{"schema_version":1}')
    decode(v1)  # decodes (upcast): the reader decodes it rather than trust an older shape
    assert READ(v1) is None
    other = _written()
    assert READ(NewEvent("BookingCancelled", other.data, other.metadata)) is None


def test_a_version_unknown_here_is_not_read_and_decoding_refuses_it() -> None:
    newer = _with(_written().data, b'{"schema_version":3}')
    assert READ(newer) is None
    with pytest.raises(UnknownSchemaVersion):
        decode(newer)


def test_metadata_that_is_no_json_raises_as_decoding_does() -> None:
    broken = _with(_written().data, b"{not json")
    with pytest.raises(InvalidEventData):
        decode(broken)
    with pytest.raises(InvalidEventData):
        READ(broken)


@pytest.mark.parametrize(
    "change",
    [
        # other key orders, spaces, escapes and spellings than the encoder's
        lambda data: json.dumps(json.loads(data), sort_keys=True).encode(),
        lambda data: json.dumps(json.loads(data)).encode(),  # ", " and ": "
        lambda data: data.replace(b'"participant_id"', b'"particip\\u0061nt_id"', 1),
        lambda data: data.replace(b'"season":', b'"\\u0073eason":', 1),
        lambda data: data.replace(b'"participant_id":"', b'"participant_id":"{', 1),
        lambda data: data.replace(_participant(data), _participant(data).upper(), 1),
        # a later duplicate of a key read: it wins in decoding
        lambda data: data[:-1] + b',"season":2030}',
        lambda data: data[:-1] + b',"participant_id":"' + str(uuid.uuid4()).encode() + b'"}',
        # a \u escape anywhere (a duplicate key could be spelled with one)
        lambda data: data[:-1] + b',"s\\u0065ason":2030}',
        # a value the field refuses
        lambda data: data.replace(b'"season":2019', b'"season":1900', 1),
        lambda data: data.replace(b'"season":2019', b'"season":99999999999999999999', 1),
        lambda data: data.replace(b'"season":2019', b'"season":2019.0', 1),
        lambda data: data.replace(b'"season":2019', b'"season":"2019"', 1),
    ],
)
def test_a_set_not_written_as_the_encoder_writes_it_is_decoded_instead(change: Any) -> None:
    written = _written().data
    assert b'"season":2019,' in written
    assert _participant(written).decode() == str(decode(_with(written)).participant_id)  # type: ignore[attr-defined]
    changed = change(written)
    assert changed != written
    assert _agrees(_with(changed)) is None


def test_a_later_duplicate_of_a_field_not_read_changes_nothing_read() -> None:
    written = _written().data
    changed = written[:-1] + b',"recommendation_set_id":"' + str(uuid.uuid4()).encode() + b'"}'
    assert _agrees(_with(changed)) == READ(_with(written))


def test_a_set_whose_first_fields_read_well_may_still_not_decode() -> None:
    """What `LeadingFields` does not promise: the rest is not looked at."""
    written = _written().data
    broken = written[:-1] + b',"unexpected":1}'
    with pytest.raises(InvalidEventData):
        decode(_with(broken))
    assert READ(_with(broken)) == READ(_with(written))


def test_what_is_read_is_what_decoding_gives_for_many_changed_sets() -> None:
    """Random edits of a written set (bytes cut, doubled, replaced, keys repeated): wherever an
    answer is given and decoding succeeds, the two agree."""
    rng = random.Random(107)
    written = _written().data
    pieces = [b'"season":', b'"participant_id":', b",", b"\\u0030", b" ", b"2019", b"}", b'"']
    answered = 0
    for _ in range(600):
        data = bytearray(written)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data))
            match rng.randrange(3):
                case 0:
                    del data[at : at + rng.randint(1, 4)]
                case 1:
                    data[at:at] = rng.choice(pieces)
                case _:
                    data[at] = rng.randrange(32, 127)
        if _agrees(_with(bytes(data))) is not None:
            answered += 1
    assert answered > 0  # some edits leave the first fields readable


def test_only_fields_of_the_event_that_can_be_read_so_are_accepted() -> None:
    with pytest.raises(ValueError, match="not read here"):
        LeadingFields(RecommendationsIssued, ("rules",))  # a model, not a UUID or an integer
    with pytest.raises(ValueError, match="once each"):
        LeadingFields(RecommendationsIssued, ("season", "season"))
    with pytest.raises(ValueError, match="once each"):
        LeadingFields(RecommendationsIssued, ("no_such_field",))
    with pytest.raises(ValueError, match="once each"):
        LeadingFields(RecommendationsIssued, ())
    assert LeadingFields(ParticipantRegistered, ("participant_id",))  # another type's first


def test_only_the_newest_version_of_a_type_is_read() -> None:
    from bilet.contracts import CATALOGUE

    older = CATALOGUE.model(SET, 1)
    with pytest.raises(ValueError, match="newest version"):
        LeadingFields(older, ("participant_id",))


class _Season(DomainEvent):
    """A season of a participant's (a test's event type, registered alone)."""

    event_type: ClassVar[str] = "SeasonNoted"
    schema_version: ClassVar[int] = 1
    service: ClassVar[str] = "recommender"
    stream_category: ClassVar[str] = "seasons"
    stream_key: ClassVar[str] = "participant_id"

    participant_id: UUID
    season: int = Field(ge=2000, le=2100)


def _read(event_class: type[DomainEvent], names: tuple[str, ...] = ("season",)) -> LeadingFields:
    registry = EventRegistry()
    registry.register(event_class)
    return LeadingFields(event_class, names, registry)


def test_an_event_class_without_validators_of_its_own_is_read() -> None:
    assert _read(_Season).names == ("season",)


def test_a_class_whose_own_validator_could_change_a_field_read_is_refused() -> None:
    """Its validators are not copied into what validates the fields read: decoding could give
    another value than the one read (a season validated as the next one, here)."""

    class Shifted(_Season):
        """A season read as the next one."""

        event_type: ClassVar[str] = "SeasonNoted"

        @field_validator("season")
        @classmethod
        def _next(cls, season: int) -> int:
            return season + 1

    class Everything(_Season):
        """Every field passed through a validator."""

        event_type: ClassVar[str] = "SeasonNoted"

        @field_validator("*")
        @classmethod
        def _same(cls, value: Any) -> Any:
            return value

    class Before(_Season):
        """The raw data seen before the fields."""

        event_type: ClassVar[str] = "SeasonNoted"

        @model_validator(mode="before")
        @classmethod
        def _raw(cls, data: Any) -> Any:
            return data

    class After(_Season):
        """The model seen after the fields."""

        event_type: ClassVar[str] = "SeasonNoted"

        @model_validator(mode="after")
        def _done(self) -> "After":
            return self

    refused: list[tuple[type[_Season], str]] = [
        (Shifted, "field validator"),
        (Everything, "field validator"),
        (Before, "model validators"),
        (After, "model validators"),
    ]
    for event_class, why in refused:
        with pytest.raises(ValueError, match=why):
            _read(event_class)
    # A validator of a field not read changes nothing read.
    assert _read(Shifted, ("participant_id",)).names == ("participant_id",)


def test_a_field_read_under_another_name_is_refused() -> None:
    class Renamed(_Season):
        """A season validated from another key."""

        event_type: ClassVar[str] = "SeasonNoted"

        season: int = Field(ge=2000, le=2100, validation_alias="year")

    with pytest.raises(ValueError, match="not read here"):
        _read(Renamed)
