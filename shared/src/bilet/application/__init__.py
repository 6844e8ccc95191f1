"""What every service's application layer does the same way: who asks (`RequestContext`), reading
and folding a stream, sealing and encoding what was decided (`EventLog`), and deciding again when
another writer was faster (`retrying`), and the command path that does all of it once
(`Transactor.transact`). The rules and the event registries stay in the services."""

from bilet.application.context import RequestContext
from bilet.application.eventlog import EventLog, Loaded, Part, Stream, seal_all
from bilet.application.ids import Ids, SeededIds, random_ids
from bilet.application.retry import MAX_ATTEMPTS, retrying
from bilet.application.transact import (
    Attempt,
    CommitObserver,
    Decision,
    Fold,
    Outcome,
    OwnAppend,
    OwnCommit,
    Transactor,
)

__all__ = [
    "MAX_ATTEMPTS",
    "Attempt",
    "CommitObserver",
    "Decision",
    "EventLog",
    "Fold",
    "Ids",
    "Loaded",
    "Outcome",
    "OwnAppend",
    "OwnCommit",
    "Part",
    "RequestContext",
    "SeededIds",
    "Stream",
    "Transactor",
    "random_ids",
    "retrying",
    "seal_all",
]
