"""What a service's relay publishes: its catalogue events, not its internal streams."""

import pytest

from bilet.relay.settings import RelaySettings


def test_a_service_relay_publishes_exactly_its_catalogue_event_types() -> None:
    types = RelaySettings(relay_service="identity").published_event_types()
    assert types is not None
    assert {"ParticipantRegistered", "SchoolRegistered"} <= types
    assert "ChildReserved" not in types  # identity's uniqueness reservations stay inside
    assert "PersonalDataAccessed" not in types  # and so does the audit trail
    assert "ConsentVerified" not in types  # another service's event


def test_everything_is_published_only_when_asked_and_unknown_services_must_ask() -> None:
    assert (
        RelaySettings(relay_service="identity", relay_publish="all").published_event_types() is None
    )
    with pytest.raises(ValueError, match="BVB_RELAY_PUBLISH=all"):
        RelaySettings(relay_service="nobody").published_event_types()


def test_the_store_schema_defaults_to_the_services_own() -> None:
    location = RelaySettings(
        relay_service="identity", relay_store="postgresql://u@localhost/bvb_identity"
    ).store_location()
    assert location.schema == "bvb_identity"
