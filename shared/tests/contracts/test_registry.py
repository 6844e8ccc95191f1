"""The registry refuses a catalogue readers could not rely on, and upcasts step by step."""

from typing import ClassVar
from uuid import UUID

import pytest

from bilet.contracts import CATALOGUE, DomainEvent, EventRegistry
from bilet.contracts.registry import CatalogueError, JsonObject, UnknownEventType
from bilet.contracts.registry import UnknownSchemaVersion as UnknownVersion
from bilet.contracts.sealed import Sealed, personal
from bilet.services import SERVICE_NAMES


class _Club(DomainEvent):
    service: ClassVar[str] = "recommender"
    stream_category: ClassVar[str] = "club"
    stream_key: ClassVar[str] = "club_id"


class ClubOpenedV1(_Club):
    """A club (кружок) opened."""

    event_type: ClassVar[str] = "ClubOpened"
    schema_version: ClassVar[int] = 1

    club_id: UUID


class ClubOpenedV2(_Club):
    """A club (кружок) opened, with its number of places."""

    event_type: ClassVar[str] = "ClubOpened"
    schema_version: ClassVar[int] = 2

    club_id: UUID
    places: int


class ClubOpenedV3(_Club):
    """A club (кружок) opened, with places and a minimum grade."""

    event_type: ClassVar[str] = "ClubOpened"
    schema_version: ClassVar[int] = 3

    club_id: UUID
    places: int
    from_grade: int


def test_given_three_versions_and_their_upcasters_when_upcasting_v1_then_each_step_runs() -> None:
    registry = EventRegistry()
    for model in (ClubOpenedV2, ClubOpenedV1, ClubOpenedV3):  # registration order is free
        registry.register(model)
    steps: list[int] = []

    @registry.upcaster("ClubOpened", from_version=1)
    def _v1(data: JsonObject) -> JsonObject:
        steps.append(1)
        return {**data, "places": 0}

    @registry.upcaster("ClubOpened", from_version=2)
    def _v2(data: JsonObject) -> JsonObject:
        steps.append(2)
        return {**data, "from_grade": 6}

    registry.check()
    assert registry.latest("ClubOpened") is ClubOpenedV3
    assert registry.versions("ClubOpened") == (1, 2, 3)
    assert registry.upcast("ClubOpened", 1, {"club_id": "x"}) == {
        "club_id": "x",
        "places": 0,
        "from_grade": 6,
    }
    assert steps == [1, 2]
    assert registry.upcast("ClubOpened", 3, {"club_id": "x"}) == {"club_id": "x"}
    with pytest.raises(UnknownVersion):
        registry.upcast("ClubOpened", 4, {})


def test_a_missing_upcaster_fails_the_check() -> None:
    registry = EventRegistry()
    registry.register(ClubOpenedV1)
    registry.register(ClubOpenedV2)
    with pytest.raises(CatalogueError, match="no upcaster from v1 to v2"):
        registry.check()


def test_a_gap_in_versions_fails_the_check() -> None:
    registry = EventRegistry()
    registry.register(ClubOpenedV1)
    registry.register(ClubOpenedV3)
    with pytest.raises(CatalogueError, match=r"not 1\.\.N"):
        registry.check()


def test_an_upcaster_past_the_newest_version_fails_the_check() -> None:
    registry = EventRegistry()
    registry.register(ClubOpenedV1)
    registry.upcaster("ClubOpened", 1)(dict)
    with pytest.raises(CatalogueError, match="leads to no known version"):
        registry.check()


def test_the_same_version_twice_is_refused() -> None:
    registry = EventRegistry()
    registry.register(ClubOpenedV1)

    class ClubOpenedAgain(_Club):
        """Again."""

        event_type: ClassVar[str] = "ClubOpened"
        club_id: UUID

    with pytest.raises(CatalogueError, match="registered twice"):
        registry.register(ClubOpenedAgain)


def test_an_inherited_type_name_is_refused() -> None:
    class ClubRenamed(ClubOpenedV1):
        """A subclass that forgot to name its own type."""

    with pytest.raises(CatalogueError, match="does not set event_type itself"):
        EventRegistry().register(ClubRenamed)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event_type": "club_opened"}, "PascalCase"),
        ({"service": "billing"}, "unknown service"),
        ({"stream_key": "club"}, "is no field"),
        ({"stream_category": "Club"}, "stream category"),
        ({"__doc__": None}, "docstring"),
    ],
)
def test_a_malformed_event_class_is_refused(change: dict[str, object], message: str) -> None:
    namespace: dict[str, object] = {
        "__doc__": "Something happened.",
        "__annotations__": {"club_id": UUID},
        "event_type": "ClubClosed",
        **change,
    }
    event_class = type("ClubClosed", (_Club,), namespace)
    with pytest.raises(CatalogueError, match=message):
        EventRegistry().register(event_class)


def test_sealed_fields_need_a_subject() -> None:
    class ClubNote(_Club):
        """A note about a club member."""

        event_type: ClassVar[str] = "ClubNote"
        club_id: UUID
        note: Sealed = personal("A note.", "string")

    with pytest.raises(CatalogueError, match="no 'participant_id'"):
        EventRegistry().register(ClubNote)


def test_versions_of_one_type_share_their_stream() -> None:
    registry = EventRegistry()
    registry.register(ClubOpenedV1)

    class ClubOpenedElsewhere(_Club):
        """Opened on another stream."""

        event_type: ClassVar[str] = "ClubOpened"
        schema_version: ClassVar[int] = 2
        stream_category: ClassVar[str] = "region"
        club_id: UUID

    with pytest.raises(CatalogueError, match="same stream_category"):
        registry.register(ClubOpenedElsewhere)


def test_the_catalogue_is_complete_and_grouped_by_producer() -> None:
    CATALOGUE.check()
    assert CATALOGUE.producers() == ("identity", "consent", "diagnostics", "events", "recommender")
    assert set(CATALOGUE.producers()) <= set(SERVICE_NAMES)
    assert CATALOGUE.event_types_of("portfolio") == ()
    assert CATALOGUE.service_of("ParticipantErased") == "consent"
    assert CATALOGUE.versions("ParticipantRegistered") == (1, 2, 3)
    with pytest.raises(UnknownEventType):
        CATALOGUE.latest("EventAttended")
