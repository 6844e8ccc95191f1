"""The SQLite key store: keys wrapped at rest, and erased keys physically gone from its files."""

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from bilet.crypto import DataKey, MasterKey, MasterKeyError, SqliteKeyStore, SubjectErased


def _files_holding(directory: Path, needle: bytes) -> list[str]:
    return sorted(
        path.name for path in directory.rglob("*") if path.is_file() and needle in path.read_bytes()
    )


def _wrapped(path: Path, subject: str) -> bytes:
    # A read-only side door into the file, closed at once so it holds no snapshot of its own.
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (wrapped,) = connection.execute(
            "SELECT wrapped FROM data_keys WHERE subject = ?", (subject,)
        ).fetchone()
    finally:
        connection.close()
    assert isinstance(wrapped, bytes)
    return wrapped


async def test_given_stored_keys_when_the_files_are_scanned_then_no_raw_key_is_there(
    tmp_path: Path,
) -> None:
    store_dir = tmp_path / "keys"
    path = store_dir / "keys.sqlite3"
    async with SqliteKeyStore(path, MasterKey.generate()) as store:
        keys = [await store.get_or_create(f"participant-{n}") for n in range(50)]
        wrapped = _wrapped(path, "participant-7")

        # The scan sees stored bytes (the wrapped key is there), yet no key in the clear.
        assert _files_holding(store_dir, wrapped)
        for key in keys:
            assert _files_holding(store_dir, key.key) == []
    for key in keys:
        assert _files_holding(store_dir, key.key) == []


async def test_given_erased_subjects_when_the_files_are_scanned_then_their_keys_are_nowhere(
    tmp_path: Path,
) -> None:
    store_dir = tmp_path / "keys"
    path = store_dir / "keys.sqlite3"
    async with SqliteKeyStore(path, MasterKey.generate()) as store:
        # Enough rows to span several pages, so the erased rows share pages with kept ones.
        subjects = [f"participant-{n}" for n in range(300)]
        keys = {subject: await store.get_or_create(subject) for subject in subjects}
        erased = ["participant-0", "participant-150", "participant-299"]
        wrapped = {subject: _wrapped(path, subject) for subject in [*erased, "participant-151"]}
        for subject in erased:
            assert _files_holding(store_dir, wrapped[subject]), "control: the scan sees the row"

        for subject in erased:
            assert await store.erase(subject) is True

        # Right after erase returns, with the store still open: db, -wal and -shm all scanned.
        scanned = sorted(path.name for path in store_dir.iterdir())
        assert scanned == ["keys.sqlite3", "keys.sqlite3-shm", "keys.sqlite3-wal"]
        for subject in erased:
            assert _files_holding(store_dir, wrapped[subject]) == []
            assert _files_holding(store_dir, keys[subject].key) == []
        assert _files_holding(store_dir, wrapped["participant-151"]) == ["keys.sqlite3"]
        assert await store.get("participant-151") == keys["participant-151"]


async def test_given_a_reopened_store_when_read_then_keys_and_erasures_have_persisted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.sqlite3"
    master_key = MasterKey.generate()
    async with SqliteKeyStore(path, master_key) as store:
        kept = await store.get_or_create("participant-1")
        await store.get_or_create("participant-2")
        await store.erase("participant-2")

    async with SqliteKeyStore(path, master_key) as reopened:
        assert await reopened.get("participant-1") == kept
        assert await reopened.get("participant-2") is None
        with pytest.raises(SubjectErased):
            await reopened.get_or_create("participant-2")


async def test_given_another_master_key_when_a_key_is_read_then_it_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.sqlite3"
    async with SqliteKeyStore(path, MasterKey.generate()) as store:
        await store.get_or_create("participant-1")

    async with SqliteKeyStore(path, MasterKey.generate()) as wrong:
        with pytest.raises(MasterKeyError, match="another master key"):
            await wrong.get("participant-1")


async def test_given_a_wrapped_key_copied_to_another_subject_when_read_then_it_does_not_unwrap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.sqlite3"
    async with SqliteKeyStore(path, MasterKey.generate()) as store:
        await store.get_or_create("participant-1")
        await store.get_or_create("participant-2")
        stolen = _wrapped(path, "participant-1")
        connection = sqlite3.connect(path)
        with connection:
            connection.execute(
                "UPDATE data_keys SET wrapped = ? WHERE subject = ?", (stolen, "participant-2")
            )
        connection.close()

        with pytest.raises(MasterKeyError):
            await store.get("participant-2")


async def test_given_two_stores_on_one_file_when_both_create_at_once_then_one_key_wins(
    tmp_path: Path,
) -> None:
    # Two store objects stand for two processes (e.g. a service's API and its worker).
    path = tmp_path / "keys.sqlite3"
    master_key = MasterKey.generate()
    async with SqliteKeyStore(path, master_key) as one, SqliteKeyStore(path, master_key) as two:
        keys: list[DataKey] = await asyncio.gather(
            *(
                store.get_or_create(f"participant-{n % 5}")
                for n in range(40)
                for store in (one, two)
            )
        )
        by_subject: dict[str, set[str]] = {}
        for n, key in enumerate(keys):
            by_subject.setdefault(f"participant-{n // 2 % 5}", set()).add(key.key_id)
        assert all(len(ids) == 1 for ids in by_subject.values())

        await one.erase("participant-3")
        assert await two.get("participant-3") is None
        with pytest.raises(SubjectErased):
            await two.get_or_create("participant-3")


async def test_given_a_new_store_when_created_then_its_files_are_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "var" / "keys.sqlite3"
    async with SqliteKeyStore(path, MasterKey.generate()) as store:
        await store.get_or_create("participant-1")
        for file in path.parent.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file.name
