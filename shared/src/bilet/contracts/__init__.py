"""The published event contracts: envelope metadata, the event catalogue of all six services, their
versions and upcasters, and their Kafka form (CloudEvents, binary mode).

- `DomainEvent`: the base of every event (`bilet.contracts.catalogue.<service>` defines them);
- `encode(event, metadata) -> NewEvent` and `decode(recorded) -> DomainEvent` (newest version);
- `CATALOGUE`: every published type and version, by service (`event_types_of`, `service_of`);
- `Sealed`, `seal`, `unseal` (`seal_many`, `unseal_many`: many events in one cipher call):
  personal fields travel only encrypted (crypto-shredding), health
  data under a key of its own, in generations (`KeyScope`, `health_key_subject`);
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
    KeyScope,
    Sealed,
    SealedValue,
    health_key_subject,
    health_key_subjects,
    seal,
    seal_many,
    sealed_fields,
    sealed_scopes,
    unseal,
    unseal_many,
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
    "KeyScope",
    "Sealed",
    "SealedValue",
    "UnknownEventType",
    "UnknownSchemaVersion",
    "decode",
    "encode",
    "health_key_subject",
    "health_key_subjects",
    "schema_version_of",
    "seal",
    "seal_many",
    "sealed_fields",
    "sealed_scopes",
    "unseal",
    "unseal_many",
]
