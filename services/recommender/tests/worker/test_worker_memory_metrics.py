"""What the worker tells of its memory on `/metrics` (ADR 0118): the collector's collections,
pauses and freed objects per generation (`CollectorWatch`, a `gc.callbacks` entry), and the
characters its in-memory evidence table holds (`table_characters`)."""

import gc
import math

from prometheus_client import CollectorRegistry

from bilet_recommender.worker import CollectorWatch, table_characters


def _value(registry: CollectorRegistry, name: str, generation: str) -> float:
    found = registry.get_sample_value(name, {"generation": generation})
    return 0.0 if found is None else found


def test_each_collection_is_counted_timed_and_its_freed_objects_added_by_generation() -> None:
    # Given a watch (not installed: the test drives it as the collector would)
    registry = CollectorRegistry()
    watch = CollectorWatch(registry)
    # When a full collection freeing 7 objects, then another freeing 3, are reported
    for collected in (7, 3):
        watch("start", {"generation": 2, "collected": 0, "uncollectable": 0})
        watch("stop", {"generation": 2, "collected": collected, "uncollectable": 0})
    # Then generation 2 shows two pauses, 10 objects freed, and its longest pause so far
    assert _value(registry, "bilet_recommender_gc_pause_seconds_count", "2") == 2
    assert _value(registry, "bilet_recommender_gc_collected_objects_total", "2") == 10
    longest = _value(registry, "bilet_recommender_gc_pause_longest_seconds", "2")
    total = _value(registry, "bilet_recommender_gc_pause_seconds_sum", "2")
    assert 0 <= longest <= total
    # and the young generation none
    assert _value(registry, "bilet_recommender_gc_pause_seconds_count", "0") == 0


def test_installed_it_sees_the_interpreters_collections_and_removed_it_does_not() -> None:
    registry = CollectorRegistry()
    watch = CollectorWatch(registry).install()
    try:
        gc.collect(1)
    finally:
        watch.remove()
    assert watch not in gc.callbacks
    seen = _value(registry, "bilet_recommender_gc_pause_seconds_count", "1")
    assert seen >= 1  # this one, and any the interpreter ran meanwhile
    gc.collect(1)
    assert _value(registry, "bilet_recommender_gc_pause_seconds_count", "1") == seen


class _MemoryStore:
    """As faust's in-memory store keeps a table: its `data` dict."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data


def test_the_tables_characters_are_those_of_its_values() -> None:
    store = _MemoryStore({"a": '{"evidence": 1}', "b": "{}"})
    assert table_characters(store) == len('{"evidence": 1}') + 2
    assert table_characters(_MemoryStore({})) == 0


def test_a_store_without_an_in_memory_dict_has_no_figure() -> None:
    assert math.isnan(table_characters(object()))
    assert math.isnan(table_characters(_MemoryStore([])))  # type: ignore[arg-type]
