"""KurrentDB event store: for operators who run KurrentDB (formerly EventStoreDB) rather than
PostgreSQL. It speaks gRPC through the official asyncio client, `kurrentdbclient`.
See docs/adr/0005-kurrentdb-adapter.md for why, and for every limit listed below.

How the port maps onto KurrentDB:

- Streams. A store opened with a `namespace` keeps stream `participant-1` as
  `{namespace}_participant-1`; the default namespace "" keeps names as given. The prefix ends in
  `_`, not `-`, because KurrentDB (its `$by_category` projection, `$ce-` streams) takes the part
  before the first dash as the category: `{namespace}_participant` stays one category per
  namespace instead of all of them collapsing into `{namespace}`. Our own `category_of` reads the
  unprefixed id, so categories stay `participant`. A namespace is letters, digits and `_`; a stream
  id may not start with `$` (KurrentDB's system streams). The namespace "" sees every non-system
  stream of the database, other namespaces' streams included: give each store its namespace or
  its own database.
- Versions are KurrentDB stream revisions. Expectations: ANY -> `StreamState.ANY`, NO_STREAM ->
  `StreamState.NO_STREAM`, STREAM_EXISTS -> `StreamState.EXISTS`, an exact int -> that revision.
- Positions are the commit positions of events in the transaction log (`$all`). For every append
  made through gRPC (implicitly committed prepares) each event has its own commit position, equal
  to its prepare position, and positions grow in the order events become visible. They are large
  and sparse (byte offsets), and a position that is not exactly an event's cannot be read from.
- `read_all` reads `$all` forwards from `after_position` with a server-side regex filter on the
  stored stream name (`^{namespace}_(?:cat1|cat2)(?:-.*)?$`, or `^[^$].*$` for the whole
  database), skips the event at exactly `after_position` (KurrentDB includes it), and filters
  event types and system events (`$`-prefixed streams or types) on the client. With no namespace
  and no categories, the event-type filter runs on the server instead.
- `subscribe_all` is a KurrentDB catch-up subscription (`subscribe_to_all` from the commit
  position) with the same filters: it is live, with no polling. It resubscribes from the last
  position it saw when the server drops a slow consumer or the connection.
- Idempotent retries: KurrentDB itself recognises a re-append of stored event ids to the same
  stream and answers with the original commit position; the adapter reads the versions back. When
  KurrentDB refuses an append with a wrong expected version (which is also how it answers a batch
  that partly reuses stored ids), the adapter looks for the batch's ids in the stream: all of them
  at consecutive versions is an identical retry (the original result is returned), some of them
  is `EventIdsConflict`, none is `WrongExpectedVersion` with the actual version.
- `append_many` to several streams uses KurrentDB's multi-stream append (`multi_append_to_stream`,
  KurrentDB 25.1 and later), which commits all streams or none. An older server cannot commit
  several streams atomically: the adapter refuses with `EventStoreError` rather than write part of
  it. The identity service's uniqueness reservations therefore need KurrentDB >= 25.1. A
  multi-stream append only carries metadata as string properties, so the adapter wraps each
  event's metadata document into one property (`bilet-metadata`) and unwraps it on every read.
- `read_stream` reads the stream (absent, soft-deleted or tombstoned: empty); `stream_version` is
  the revision of its last readable event. Stream metadata: `truncate_before` is `$tb`; `deleted`
  is a KurrentDB soft delete (`delete_stream`, which sets `$tb` to the maximum), so the stream
  reads as absent, an append brings it back and versions continue. `$all` keeps a deleted
  stream's events until an operator scavenges.
- Events are written as `application/json` with their id, type, data and metadata bytes as given.
  `recorded_at` is KurrentDB's own timestamp (the time of reading if a server sends none).

Known differences from the other adapters (the ADR has the detail): reusing an event id in
*another* stream is not detected (KurrentDB scopes event ids to a stream); retries with ANY or
STREAM_EXISTS are recognised only while the server's in-memory cache of recent event ids holds
them; an exact expected version equal to a soft-deleted stream's last version is accepted (the
stream comes back); and after a scavenge `$all` no longer has truncated or deleted events.
"""

from bilet.eventstore.kurrentdb.mapping import (
    CONTENT_TYPE,
    DELETED_TRUNCATE_BEFORE,
    MULTI_APPEND_METADATA_KEY,
    TRUNCATE_BEFORE_KEY,
    Selection,
    ServerFilter,
    StreamNames,
    actual_version,
    is_known_position,
    is_unimplemented,
    kurrent_metadata,
    metadata_from_kurrent,
    recorded_from,
    refusal_error,
    result_of_retry,
    to_current_version,
    to_new_event,
    unwrap_metadata,
    wrap_metadata,
)
from bilet.eventstore.kurrentdb.store import KurrentDbEventStore

__all__ = [
    "CONTENT_TYPE",
    "DELETED_TRUNCATE_BEFORE",
    "MULTI_APPEND_METADATA_KEY",
    "TRUNCATE_BEFORE_KEY",
    "KurrentDbEventStore",
    "Selection",
    "ServerFilter",
    "StreamNames",
    "actual_version",
    "is_known_position",
    "is_unimplemented",
    "kurrent_metadata",
    "metadata_from_kurrent",
    "recorded_from",
    "refusal_error",
    "result_of_retry",
    "to_current_version",
    "to_new_event",
    "unwrap_metadata",
    "wrap_metadata",
]
