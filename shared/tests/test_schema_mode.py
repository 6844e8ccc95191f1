"""`BVB_SCHEMA`: whether the PostgreSQL stores make their tables or only verify them (ADR 0057)."""

import pytest
from pydantic import ValidationError

from bilet.eventstore.postgres import SCHEMA_SQL
from bilet.pgschema import created_by, migrating, schema_mode
from bilet.relay.postgres import SCHEMA_SQL as POSITIONS_SQL
from bilet.settings import PlatformSettings


def test_the_stores_migrate_unless_told_to_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BVB_SCHEMA", raising=False)
    assert schema_mode() == "migrate"
    assert PlatformSettings().schema_mode == "migrate"
    monkeypatch.setenv("BVB_SCHEMA", "verify")
    assert schema_mode() == "verify"
    assert PlatformSettings().schema_mode == "verify"


def test_the_migration_command_migrates_whatever_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BVB_SCHEMA", "verify")
    with migrating():
        assert schema_mode() == "migrate"
    assert schema_mode() == "verify"


def test_an_unknown_schema_mode_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BVB_SCHEMA", "create")
    with pytest.raises(ValidationError, match="BVB_SCHEMA"):
        PlatformSettings()
    with pytest.raises(ValueError, match="BVB_SCHEMA is 'create'"):
        schema_mode()


def test_what_a_migration_makes_is_read_from_its_statements() -> None:
    assert created_by(SCHEMA_SQL.format(s="bvb_x", bits=0, channel="c", wrong_version="BV001")) == [
        ("schema", "bvb_x"),
        ("table", "bvb_x.streams"),
        ("table", "bvb_x.events"),
    ]
    assert created_by(POSITIONS_SQL.format(s="bvb_x")) == [
        ("schema", "bvb_x"),
        ("table", "bvb_x.relay_positions"),
    ]
