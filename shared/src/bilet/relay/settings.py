"""The relay's settings: `BVB_RELAY_*` variables (and the platform's `BVB_*`), overridable on the
command line of `python -m bilet.relay`."""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from bilet.contracts import CATALOGUE
from bilet.relay.kafka import KafkaOptions
from bilet.relay.relay import RelayOptions
from bilet.settings import KURRENTDB_SCHEMES, PlatformSettings


class RelaySettings(PlatformSettings):
    relay_service: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    # "sqlite:PATH" or "postgresql://..."; default: the service's embedded SQLite file. With
    # BVB_EVENT_STORE=kurrentdb the events come from KurrentDB (BVB_KURRENTDB_URL_FILE) and this
    # is where the relay keeps its checkpoint and, on PostgreSQL, its lease (ADR 0058).
    relay_store: str | None = None
    # The store's PostgreSQL schema (on KurrentDB its namespace; the checkpoint's schema);
    # default `bvb_<service>`, where each service keeps its store.
    relay_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    # "catalogue": only the event types the contracts catalogue says this service publishes (its
    # internal streams, reservations, profiles, audit, stay inside); "all": every event.
    relay_publish: Literal["catalogue", "all"] = "catalogue"
    relay_partitions: int = Field(default=6, ge=1)
    # Unset: three copies, or one per broker of a smaller cluster. Production declares its topics
    # (KafkaTopic objects) and sets relay_create_topics to false: the relay creates nothing there.
    relay_replication_factor: int | None = Field(default=None, ge=1)
    relay_create_topics: bool = True
    relay_batch_size: int = Field(default=1000, ge=1, le=100_000)
    relay_max_batch_bytes: int = Field(default=256 * 1024, ge=1024)
    relay_delivery_timeout: float = Field(default=30.0, gt=0)
    relay_request_timeout: float = Field(default=15.0, gt=0)
    relay_checkpoint_interval: float = Field(default=0.1, ge=0)
    relay_poll_interval: float = Field(default=0.2, gt=0)
    relay_backoff_initial: float = Field(default=0.2, gt=0)
    relay_backoff_max: float = Field(default=10.0, gt=0)
    relay_lag_interval: float = Field(default=5.0, gt=0)
    relay_shutdown_timeout: float = Field(default=10.0, gt=0)
    relay_metrics_port: int | None = Field(default=None, ge=0, le=65535)

    @model_validator(mode="after")
    def _backoff_bounds(self) -> "RelaySettings":
        if self.relay_backoff_initial > self.relay_backoff_max:
            raise ValueError("BVB_RELAY_BACKOFF_INITIAL exceeds BVB_RELAY_BACKOFF_MAX")
        return self

    def service(self) -> str:
        if self.relay_service is None:
            raise ValueError("no service: pass --service or set BVB_RELAY_SERVICE")
        return self.relay_service

    def store_location(self) -> "StoreLocation":
        spec = self.relay_store or f"sqlite:{self.sqlite_path(self.service())}"
        if spec.startswith(KURRENTDB_SCHEMES):
            raise ValueError(
                "KurrentDB is chosen by BVB_EVENT_STORE=kurrentdb and reached at "
                "BVB_KURRENTDB_URL_FILE (or BVB_KURRENTDB_URL); the relay's --store then says "
                "where it keeps its checkpoint: sqlite:PATH or postgresql://..."
            )
        schema = self.relay_schema or f"bvb_{self.service()}"
        location = StoreLocation.parse(spec, schema)
        if self.event_store == "kurrentdb":
            # The namespace even when the checkpoint is in a SQLite file (which has no schema).
            return replace(location, kurrentdb=True, schema=schema)
        return location

    def check_store(self) -> None:
        """Refuse at start-up what would fail at the store's opening: a bad location, an
        unreadable KurrentDB connection string or CA file."""
        if self.store_location().kurrentdb:
            self.kurrentdb_connection_string()
            self.kurrentdb_root_certificates()

    def published_event_types(self) -> frozenset[str] | None:
        """What the relay publishes: None for everything."""
        if self.relay_publish == "all":
            return None
        types = frozenset(CATALOGUE.event_types_of(self.service()))
        if not types:
            raise ValueError(
                f"the catalogue has no events of {self.service()!r}: "
                "set BVB_RELAY_PUBLISH=all to publish whatever its store holds"
            )
        return types

    def relay_options(self) -> RelayOptions:
        return RelayOptions(
            event_types=self.published_event_types(),
            batch_size=self.relay_batch_size,
            delivery_timeout=self.relay_delivery_timeout,
            checkpoint_interval=self.relay_checkpoint_interval,
            backoff_initial=self.relay_backoff_initial,
            backoff_max=self.relay_backoff_max,
            lag_interval=self.relay_lag_interval,
            shutdown_timeout=self.relay_shutdown_timeout,
        )

    def kafka_options(self) -> KafkaOptions:
        if not self.kafka_bootstrap:
            raise ValueError("no Kafka: pass --kafka or set BVB_KAFKA_BOOTSTRAP")
        return KafkaOptions(
            bootstrap_servers=self.kafka_connection(),
            partitions=self.relay_partitions,
            replication_factor=self.relay_replication_factor,
            create_topics=self.relay_create_topics,
            max_batch_size=self.relay_max_batch_bytes,
            request_timeout=self.relay_request_timeout,
        )


@dataclass(frozen=True)
class StoreLocation:
    """Where a service's event store and its relay's position live: both in the SQLite file or
    the PostgreSQL schema; or, with `kurrentdb`, the events in KurrentDB (namespace `schema`)
    and the position (and lease) in the SQLite file or PostgreSQL schema."""

    sqlite_path: Path | None = None
    dsn: str | None = None
    schema: str = "eventstore"
    kurrentdb: bool = False

    @property
    def kind(self) -> str:
        if self.kurrentdb:
            return "kurrentdb"
        return "sqlite" if self.sqlite_path is not None else "postgresql"

    @classmethod
    def parse(cls, spec: str, schema: str = "eventstore") -> "StoreLocation":
        if spec.startswith("sqlite:"):
            path = spec.removeprefix("sqlite:")
            if not path:
                raise ValueError("sqlite: needs a file path, as in sqlite:var/identity.sqlite3")
            return cls(sqlite_path=Path(path))
        if spec.startswith(("postgresql://", "postgres://")):
            return cls(dsn=spec, schema=schema)
        raise ValueError("a store is sqlite:PATH or postgresql://... (the password is not shown)")
