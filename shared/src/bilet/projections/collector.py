"""The garbage collector's policy in a projection worker process (ADR 0074).

A Kafka feed keeps each poll's records, their headers, deliveries and decoded events alive across
awaits (queued per partition, then applied in a transaction). With CPython's default thresholds
(700, 10, 10) a young collection runs every 700 surviving container objects, well inside one
batch, so most of a batch's objects are traversed and promoted before the batch ends, and the
older generations — which hold every module, class and function of the process — are traversed
again and again; ADR 0067 measured the collector at about a third of the feed's CPU. Nothing a
batch builds forms a cycle that needs the collector: reference counting frees it when the batch
is done.

So the worker process, after its start-up (imports, the read model, the feed built):
- freezes what exists (`gc.freeze()`): the start-up objects move to the permanent generation and
  no collection traverses them again (they live as long as the process anyway);
- raises the young generation's threshold (`young`, default 500,000) above what a feed holds
  in flight: each partition's queue of two polls, the batch being applied and the poll being
  queued, about 20 tracked objects a record (aiokafka's record, its headers tuple and a tuple
  per header; our delivery and event). Measured in the bench (3 partitions, polls of 2,000):
  about 200,000 such objects alive during a catch-up, 300,000 at most. Below that, young
  collections keep traversing what is in flight, about once per object allocated (ADR 0074's
  50,000: 10 collections of 16–18 ms per 50,000 events, a quarter of the feed's CPU); above
  it, a batch is freed by reference counting before a collection sees it (ADR 0082).
  Collections still run, so garbage in cycles is still reclaimed: later, in larger steps.

Settings (environment): `BVB_PROJECTION_GC_YOUNG` (the young threshold; 0 leaves the collector's
thresholds as they are), `BVB_PROJECTION_GC_FREEZE` (default true). `bilet.projections.worker`
and `python -m bilet.projections run` apply them after their start-up; the recommender's worker
applies them before faust's start-up (ADR 0109: faust builds its services as it starts, so what
it builds then is not frozen); `bvb portfolio rebuild` (both `--from stores` and `--from kafka`)
applies them once its read model is open and restores the interpreter's after its run (ADR
0114: a rebuild replays the history as a worker does). Others tune with settings of their own
(the analytics export, ADR 0083, and the season simulation); a library user (the embedded feed
in an API process, `rebuild_from_stores` called by itself) is left alone.
"""

import gc
import logging
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_log = logging.getLogger(__name__)

DEFAULT_YOUNG: Final = 500_000


class CollectorSettings(BaseSettings):
    """How a projection worker process tunes the garbage collector (see the module)."""

    model_config = SettingsConfigDict(env_prefix="BVB_PROJECTION_GC_", extra="ignore", frozen=True)

    young: int = Field(
        default=DEFAULT_YOUNG,
        ge=0,
        description="gen0 threshold of the worker process; 0 keeps the interpreter's own",
    )
    freeze: bool = Field(
        default=True,
        description="gc.freeze() after start-up: start-up objects are never traversed again",
    )


def tune_collector(
    settings: CollectorSettings | None = None, *, process: str = "projection worker"
) -> tuple[int, int, int]:
    """Apply `settings` (default: from the environment) to this process's collector (a kernel
    projection worker: once its start-up is done); returns the thresholds that were in force,
    for `restore_collector`. `process` names the process in the log line."""
    settings = settings or CollectorSettings()
    previous = gc.get_threshold()
    if settings.young:
        gc.set_threshold(settings.young, previous[1], previous[2])
    if settings.freeze:
        # No gc.collect() first: at a worker's start it freed nothing and took a quarter of a
        # second on a loaded machine, at every restart; what little start-up garbage there may
        # be stays, once (ADR 0074).
        gc.freeze()
    _log.info(
        f"{process} collector tuned",
        extra={"gc_thresholds": list(gc.get_threshold()), "gc_frozen": gc.get_freeze_count()},
    )
    return previous


def restore_collector(previous: tuple[int, int, int]) -> None:
    """Undo `tune_collector`: the thresholds it found, and nothing frozen (tests, benches)."""
    gc.set_threshold(*previous)
    gc.unfreeze()
