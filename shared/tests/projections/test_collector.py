"""The projection worker's collector policy (`bilet.projections.collector`, ADR 0074): the
settings read from the environment, applied to the process's collector, and undone."""

import gc

import pytest
from pydantic import ValidationError

from bilet.projections.collector import (
    DEFAULT_YOUNG,
    CollectorSettings,
    restore_collector,
    tune_collector,
)


def test_the_defaults_raise_the_young_threshold_and_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BVB_PROJECTION_GC_YOUNG", raising=False)
    monkeypatch.delenv("BVB_PROJECTION_GC_FREEZE", raising=False)
    settings = CollectorSettings()
    assert (settings.young, settings.freeze) == (DEFAULT_YOUNG, True)


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BVB_PROJECTION_GC_YOUNG", "0")
    monkeypatch.setenv("BVB_PROJECTION_GC_FREEZE", "false")
    assert CollectorSettings() == CollectorSettings(young=0, freeze=False)
    monkeypatch.setenv("BVB_PROJECTION_GC_YOUNG", "-1")
    with pytest.raises(ValidationError):
        CollectorSettings()


def test_tuning_sets_the_young_threshold_freezes_and_is_undone() -> None:
    before = gc.get_threshold()
    previous = tune_collector(CollectorSettings(young=12_345, freeze=True))
    try:
        assert previous == before
        assert gc.get_threshold() == (12_345, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        restore_collector(previous)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_young_zero_keeps_the_thresholds_and_no_freeze_freezes_nothing() -> None:
    before = gc.get_threshold()
    previous = tune_collector(CollectorSettings(young=0, freeze=False))
    try:
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
    finally:
        restore_collector(previous)
