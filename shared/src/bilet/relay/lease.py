"""One relay per store: the store's relay lease, an advisory lock (`bilet.lease`) keyed by the
store's schema. A relay that loses it stops and the process exits for its supervisor to start it
again, behind the lease (docs/adr/0022-secured-kafka.md)."""

from bilet.lease import AdvisoryLease
from bilet.pgschema import check_schema_name


class RelayLease(AdvisoryLease):
    """The advisory lock of the relays of one store (its schema)."""

    def __init__(self, dsn: str, schema: str, *, check_interval: float = 2.0) -> None:
        check_schema_name(schema)
        super().__init__(
            dsn, f"bilet.relay:{schema}", holder="relay", check_interval=check_interval
        )
        self.schema = schema
