"""The master key: from configuration, refused when missing in production, a file in development."""

import base64
import os
import secrets
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bilet.crypto import DataKey, MasterKey, MasterKeyError, load_master_key


def _same_key(one: MasterKey, two: MasterKey) -> bool:
    data_key = DataKey.generate()
    wrapped = one.wrap("participant-1", data_key)
    try:
        return two.unwrap("participant-1", data_key.key_id, wrapped) == data_key
    except MasterKeyError:
        return False


def test_given_a_configured_value_when_loaded_then_it_is_the_key(tmp_path: Path) -> None:
    value = base64.b64encode(secrets.token_bytes(32)).decode()

    loaded = load_master_key(value, tmp_path, False)

    assert _same_key(loaded, MasterKey.from_base64(value))
    assert not _same_key(loaded, MasterKey.generate())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "value",
    [
        "not base64 at all!",
        base64.b64encode(b"sixteen bytes!!!").decode(),
        base64.b64encode(secrets.token_bytes(33)).decode(),
    ],
    # Fixed ids: every xdist worker collects the same tests only if their names do not depend on
    # the random value.
    ids=["not-base64", "16-bytes", "33-random-bytes"],
)
def test_given_a_malformed_value_when_loaded_then_it_is_refused_without_echoing_it(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(MasterKeyError) as raised:
        load_master_key(value, tmp_path, True)
    assert value not in str(raised.value)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_given_production_without_a_key_when_loaded_then_it_is_refused(
    tmp_path: Path, value: str | None
) -> None:
    with pytest.raises(MasterKeyError, match="BVB_MASTER_KEY"):
        load_master_key(value, tmp_path, False)
    assert list(tmp_path.iterdir()) == []


def test_given_production_and_a_development_key_file_when_loaded_then_the_file_is_not_used(
    tmp_path: Path,
) -> None:
    load_master_key(None, tmp_path, True)
    with pytest.raises(MasterKeyError):
        load_master_key(None, tmp_path, False)


def test_given_development_without_a_key_when_loaded_then_an_owner_only_file_is_made_once(
    tmp_path: Path,
) -> None:
    var_dir = tmp_path / "var"

    first = load_master_key(None, var_dir, True)
    again = load_master_key(None, var_dir, True)

    key_file = var_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text().strip(), validate=True)) == 32
    assert _same_key(first, again)
    assert sorted(path.name for path in var_dir.iterdir()) == ["master.key"]


def test_given_many_processes_starting_at_once_when_loaded_then_they_agree_on_one_key(
    tmp_path: Path,
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: load_master_key(None, tmp_path, True), range(16)))
    assert all(_same_key(keys[0], key) for key in keys)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["master.key"]


def test_given_a_key_file_readable_by_others_when_loaded_then_it_is_refused(
    tmp_path: Path,
) -> None:
    load_master_key(None, tmp_path, True)
    os.chmod(tmp_path / "master.key", 0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(None, tmp_path, True)


def test_given_development_with_a_configured_value_when_loaded_then_no_file_is_made(
    tmp_path: Path,
) -> None:
    value = base64.b64encode(secrets.token_bytes(32)).decode()
    assert _same_key(load_master_key(value, tmp_path, True), MasterKey.from_base64(value))
    assert list(tmp_path.iterdir()) == []


def test_given_a_master_key_when_printed_then_nothing_of_it_is_shown() -> None:
    assert repr(MasterKey.generate()) == "MasterKey(<hidden>)"
