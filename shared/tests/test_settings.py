"""Settings come from BVB_* variables and are validated."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from bilet.settings import Environment, PlatformSettings


def test_defaults_are_the_embedded_development_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BVB_PORT", "BVB_HOST", "BVB_VAR_DIR", "BVB_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    settings = PlatformSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.sqlite_path("identity") == Path("var/identity.sqlite3")


def test_variables_override_and_bad_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BVB_PORT", "8123")
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path))
    settings = PlatformSettings()
    assert settings.port == 8123
    assert settings.sqlite_path("consent") == tmp_path / "consent.sqlite3"
    monkeypatch.setenv("BVB_PORT", "70000")
    with pytest.raises(ValidationError):
        PlatformSettings()
