"""The published event contracts: envelope metadata, the event catalogue of all six services, their
versions and upcasters, and their Kafka form (CloudEvents, binary mode).

- `DomainEvent`: the base of every event (`bilet.contracts.catalogue.<service>` defines them);
- `encode(event, metadata) -> NewEvent` and `decode(recorded) -> DomainEvent` (newest version);
- `CATALOGUE`: every published type and version, by service (`event_types_of`, `service_of`);
- `Sealed`, `seal`, `unseal`: personal fields travel only encrypted (crypto-shredding);
- `make contracts` (`bilet.contracts.export`) writes `docs/contracts/`. See docs/adr/0006.
"""

from bilet.contracts.base import ContractModel, DomainEvent
from bilet.contracts.catalogue import CATALOGUE
from bilet.contracts.codec import decode, encode, schema_version_of
from bilet.contracts.metadata import EventMetadata
from bilet.contracts.registry import (
    CatalogueError,
    ContractError,
    EventRegistry,
    InvalidEventData,
    UnknownEventType,
    UnknownSchemaVersion,
)
from bilet.contracts.sealed import (
    ERASED_VALUE,
    ErasedValue,
    Sealed,
    SealedValue,
    seal,
    sealed_fields,
    unseal,
)

__all__ = [
    "CATALOGUE",
    "ERASED_VALUE",
    "CatalogueError",
    "ContractError",
    "ContractModel",
    "DomainEvent",
    "ErasedValue",
    "EventMetadata",
    "EventRegistry",
    "InvalidEventData",
    "Sealed",
    "SealedValue",
    "UnknownEventType",
    "UnknownSchemaVersion",
    "decode",
    "encode",
    "schema_version_of",
    "seal",
    "sealed_fields",
    "unseal",
]
