"""The recommender soak's own arithmetic and readings (`benchmarks/soak_recommender.py`, ADR 0118):
what it reads of `/proc/PID/status` and `/metrics`, the slope it reports, its summary, and the
stream's recording across chunks. Given/when/then, no server."""

from typing import cast
from uuid import uuid4

import pytest

from benchmarks.recommender_world import World
from benchmarks.soak_recommender import (
    Recorder,
    Sample,
    Stream,
    memory_of,
    per_generation,
    series_of,
    slope,
    summarise,
)
from bilet.contracts import decode
from bilet.contracts.catalogue.diagnostics import StageCompleted
from bilet.contracts.vocabulary import Environment, Level
from bilet_recommender import testing
from bilet_recommender.issuing_testing import DIAGNOSTICS, Season

STATUS = """Name:\tpython
VmPeak:\t 1200000 kB
VmHWM:\t  204800 kB
VmRSS:\t  153600 kB
RssAnon:\t  140000 kB
"""


def _sample(seconds: float, rss: float, entries: float, **more: object) -> Sample:
    fields: dict[str, object] = {
        "seconds": seconds,
        "rss_mib": rss,
        "hwm_mib": rss,
        "cpu_seconds": seconds / 4,
        "pupils_sent": int(entries),
        "facts_sent": int(entries) * 6,
        "facts_folded": entries * 6,
        "sets_issued": entries * 0.8,
        "entries": entries,
        "characters": entries * 2500,
    }
    fields.update(more)
    return Sample(**fields)  # type: ignore[arg-type]


def test_the_resident_memory_and_its_peak_are_read_in_mib() -> None:
    assert memory_of(STATUS) == (150.0, 200.0)


def test_a_status_without_them_is_refused() -> None:
    with pytest.raises(ValueError, match="VmRSS"):
        memory_of("Name:\tpython\nVmPeak:\t 1 kB\n")


def test_labelled_and_plain_series_are_read_by_name_and_labels() -> None:
    exposition = """# HELP bilet_recommender_facts_total Facts folded.
# TYPE bilet_recommender_facts_total counter
bilet_recommender_facts_total 1234.0
bilet_recommender_gc_pause_seconds_count{generation="0"} 7.0
bilet_recommender_gc_pause_seconds_count{generation="2"} 1.0
bilet_recommender_gc_pause_seconds_sum{generation="2"} 0.25
process_resident_memory_bytes 1.572864e+08
"""
    series = series_of(exposition)
    assert series["bilet_recommender_facts_total"] == 1234.0
    assert series["process_resident_memory_bytes"] == 157286400.0
    assert per_generation(series, "bilet_recommender_gc_pause_seconds_count") == {
        "0": 7.0,
        "2": 1.0,
    }
    assert per_generation(series, "bilet_recommender_gc_pause_seconds_sum") == {"2": 0.25}


def test_the_slope_is_the_least_squares_one() -> None:
    assert slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2.0)
    # Noise around a line: the fit, not the last point against the first.
    assert slope([(0, 10), (1, 13), (2, 12), (3, 17)]) == pytest.approx(2.0)
    assert slope([(0, 4), (1, 4), (2, 4)]) == pytest.approx(0.0)


def test_no_slope_without_two_distinct_moments() -> None:
    assert slope([]) is None
    assert slope([(1, 5)]) is None
    assert slope([(1, 5), (1, 7)]) is None


def test_the_summary_leaves_the_warm_up_out_of_the_slopes_but_not_out_of_the_peaks() -> None:
    # Given a start that climbs fast, then 30 MiB an hour and 10 MiB per 10,000 participants
    samples = [_sample(0, 80, 0), _sample(60, 200, 100, hwm_mib=260)]
    samples += [_sample(600 + 360 * i, 150 + 3 * i, 1000 + 3000 * i) for i in range(6)]
    # When it is summarised with a warm-up of ten minutes
    summary = summarise(samples, warmup_seconds=600)
    # Then the slopes are those after the warm-up, the peaks those of the whole run
    assert summary["samples_after_warmup"] == 6
    assert summary["rss_mib_per_hour"] == pytest.approx(30.0)
    assert summary["mib_per_10k_participants"] == pytest.approx(10.0)
    # (six facts a participant: 10 MiB per 60,000 facts)
    assert summary["mib_per_100k_facts"] == pytest.approx(100 / 6, abs=0.05)  # rounded
    assert summary["table_characters_per_participant"] == pytest.approx(2500)
    assert summary["rss_mib_at_warmup"] == 150.0
    assert summary["rss_mib_max"] == 200.0
    assert summary["hwm_mib"] == 260.0
    assert summary["worker_cpu_share"] == pytest.approx(0.25)


def test_the_collectors_figures_are_the_last_samples() -> None:
    last = _sample(
        900,
        100,
        10,
        collections={"0": 3.0, "2": 1.0},
        paused_seconds={"0": 0.01234, "2": 0.4},
        longest_pause={"0": 0.005, "2": 0.4},
        collected={"0": 10.0, "2": 500.0},
    )
    summary = summarise([_sample(0, 90, 0), last], warmup_seconds=0)
    assert summary["gc_collections"] == {"0": 3.0, "2": 1.0}
    assert summary["gc_paused_seconds"] == {"0": 0.012, "2": 0.4}
    assert summary["gc_longest_pause_ms"] == {"0": 5.0, "2": 400.0}
    assert summary["gc_collected_objects"] == {"0": 10.0, "2": 500.0}


def test_a_summary_needs_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summarise([], warmup_seconds=0)


def test_a_streams_versions_and_a_sources_positions_go_on_across_chunks() -> None:
    # Given a career event's stream that holds every pupil's seat, recorded chunk after chunk
    published = testing.career_event(uuid4(), Environment.INDUSTRIAL, Environment.SMART)
    seats = [testing.attended(uuid4(), published) for _ in range(2)]
    recorder = Recorder()
    # When the catalogue and two chunks are recorded
    catalogue = recorder.record("events", [published])
    one = recorder.record("events", seats[:1])
    two = recorder.record("events", seats[1:])
    # Then the stream's versions and the source's positions rise across them, ids unique
    records = [*catalogue, *one, *two]
    assert [r.version for r in records] == [0, 1, 2]
    assert [r.position for r in records] == [1, 2, 3]
    assert len({r.event_id for r in records}) == 3
    assert recorder.record("identity", []) == []


def test_a_kept_population_gets_retakes_of_its_last_stages_in_turn() -> None:
    # Given two pupils' last stages kept, and the population reached
    first, second = uuid4(), uuid4()
    stream = Stream(cast(World, None), Season(), population=2, pupils_sent=2)
    stream.last_stages = [
        testing.knowledge(pid, dict.fromkeys(Environment, Level.ADVANCED))
        for pid in (first, second)
    ]
    # When a second's worth of one pupil is asked for
    records = stream.retakes(3)
    # Then three retakes came, the pupils' in turn, each a new attempt on a stream of its own
    retakes = [cast(StageCompleted, decode(r)) for r in records[DIAGNOSTICS]]
    assert all(isinstance(r, StageCompleted) for r in retakes)
    assert [r.participant_id for r in retakes] == [first, second, first]
    assert len({r.stream_id for r in records[DIAGNOSTICS]}) == 3
    assert {r.stream_id for r in records[DIAGNOSTICS]}.isdisjoint(
        {s.stream_id for s in stream.last_stages}
    )
    assert stream.retakes_sent == 3
    assert all(not records[source] for source in records if source != DIAGNOSTICS)
