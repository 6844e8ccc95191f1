"""What only the SQLite key store promises, beside the contract (test_keystore_contract.py): which
files it keeps, and that an erased key leaves each of them, the write-ahead log included."""

import stat
from pathlib import Path

from bilet.crypto import MasterKey, SqliteKeyStore


def _files_holding(directory: Path, needle: bytes) -> list[str]:
    return sorted(
        path.name for path in directory.rglob("*") if path.is_file() and needle in path.read_bytes()
    )


async def test_given_an_erasure_when_it_returns_then_db_wal_and_shm_are_all_clean(
    tmp_path: Path,
) -> None:
    store_dir = tmp_path / "keys"
    async with SqliteKeyStore(store_dir / "keys.sqlite3", MasterKey.generate()) as store:
        keys = await store.get_or_create_many([f"participant-{n}" for n in range(300)])
        await store.erase("participant-150")

        scanned = sorted(path.name for path in store_dir.iterdir())
        assert scanned == ["keys.sqlite3", "keys.sqlite3-shm", "keys.sqlite3-wal"]
        assert _files_holding(store_dir, keys["participant-150"].key) == []
        assert await store.get("participant-151") == keys["participant-151"]


async def test_given_a_new_store_when_created_then_its_files_are_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "var" / "keys.sqlite3"
    async with SqliteKeyStore(path, MasterKey.generate()) as store:
        await store.get_or_create("participant-1")
        for file in path.parent.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file.name
