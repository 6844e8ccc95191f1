"""Fixtures the kernel's settings and store tests share."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bilet.settings import PlatformSettings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., PlatformSettings]:
    """Settings read from exactly these `BVB_*` variables (a shell that sourced var/infra.env,
    or one pointed at a KurrentDB for the contract suite, has some set), with `var/` in the
    test's directory."""
    for name in list(os.environ):
        if name.startswith("BVB_"):
            monkeypatch.delenv(name)

    def settings(**variables: str) -> PlatformSettings:
        monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
        for name, value in variables.items():
            monkeypatch.setenv(f"BVB_{name.upper()}", value)
        return PlatformSettings()

    return settings
