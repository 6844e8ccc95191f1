"""Exports for analysts: the published events as pseudonymised Parquet tables and a DuckDB file,
per purpose, incrementally (`bvb analytics export`; docs/analytics.md, docs/adr/0023).

- `sources`: where events are read (the services' stores, or their Kafka topics);
- `population`: who may be exported (a verified consent covering `pseudonymised_analytics`)
  and the `participants` dimension;
- `pseudonyms`: ids replaced by an HMAC under a per-purpose key from the suite's key store;
- `columns`: a table per published type, typed; sealed fields dropped;
- `parquet`, `database`, `manifest`: the files of an export directory;
- `export`: one run, from the manifest's cursor to the source's end.
"""

from bilet.analytics.database import build_database, connect
from bilet.analytics.export import (
    ExportRefused,
    ExportReport,
    ExportRequest,
    ExportRun,
    Progress,
)
from bilet.analytics.manifest import Manifest, ManifestError, load_manifest
from bilet.analytics.pseudonyms import (
    InvalidPurpose,
    Pseudonymiser,
    pseudonymiser_for,
    retire_purpose,
)
from bilet.analytics.sources import KafkaSource, Source, StoreSource

__all__ = [
    "ExportRefused",
    "ExportReport",
    "ExportRequest",
    "ExportRun",
    "InvalidPurpose",
    "KafkaSource",
    "Manifest",
    "ManifestError",
    "Progress",
    "Pseudonymiser",
    "Source",
    "StoreSource",
    "build_database",
    "connect",
    "load_manifest",
    "pseudonymiser_for",
    "retire_purpose",
]
