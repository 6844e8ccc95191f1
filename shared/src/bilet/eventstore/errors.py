"""Typed failures of the event store port."""

from bilet.eventstore.model import ExpectedVersion, StreamState


class EventStoreError(Exception):
    """Anything the event store refuses."""


class WrongExpectedVersion(EventStoreError):
    """The stream was not as the caller expected; `actual` is its version (None: absent)."""

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int | None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        shown = expected.value if isinstance(expected, StreamState) else expected
        super().__init__(
            f"stream {stream_id!r}: expected version {shown}, actual "
            f"{'no stream' if actual is None else actual}"
        )


class EventIdsConflict(EventStoreError):
    """Some event ids of an append are stored already, but not as this same append to this stream.

    A retried append of the same batch succeeds idempotently; a batch that reuses ids in another way
    is a caller's bug and is refused rather than half-applied.
    """


class StreamDeleted(EventStoreError):
    """The stream is deleted and was read or expected to exist."""


class PurgeRefused(EventStoreError):
    """A purge the store must not do: the stream's category is not one the store was allowed to
    purge (`EventStore.allow_purging`), or the adapter cannot really remove events."""
