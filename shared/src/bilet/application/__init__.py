"""What every service's application layer does the same way: who asks (`RequestContext`), reading
and folding a stream, sealing and encoding what was decided (`EventLog`), and deciding again when
another writer was faster (`retrying`). The rules and the event registries stay in the services."""

from bilet.application.context import RequestContext
from bilet.application.eventlog import EventLog, Loaded, Part, Stream, seal_all
from bilet.application.retry import MAX_ATTEMPTS, retrying

__all__ = [
    "MAX_ATTEMPTS",
    "EventLog",
    "Loaded",
    "Part",
    "RequestContext",
    "Stream",
    "retrying",
    "seal_all",
]
