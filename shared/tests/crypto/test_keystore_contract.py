"""The key-store contract: every adapter of the `KeyStore` port behaves the same way."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bilet.crypto import (
    DataKey,
    InMemoryKeyStore,
    KeyStore,
    KeyStoreError,
    MasterKey,
    SqliteKeyStore,
    SubjectErased,
)


@pytest.fixture(params=["memory", "sqlite"])
async def keystore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KeyStore]:
    store: KeyStore
    if request.param == "memory":
        store = InMemoryKeyStore()
    else:
        store = SqliteKeyStore(tmp_path / "keys.sqlite3", MasterKey.generate())
    yield store
    await store.close()


async def test_given_no_key_when_get_or_create_then_one_aes256_key_is_kept(
    keystore: KeyStore,
) -> None:
    first = await keystore.get_or_create("participant-1")
    again = await keystore.get_or_create("participant-1")
    assert len(first.key) == 32
    assert again == first
    assert await keystore.get("participant-1") == first


async def test_given_two_subjects_when_keys_are_created_then_they_differ(
    keystore: KeyStore,
) -> None:
    one = await keystore.get_or_create("participant-1")
    two = await keystore.get_or_create("participant-2")
    assert one.key_id != two.key_id
    assert one.key != two.key


async def test_given_a_subject_never_seen_when_get_then_none(keystore: KeyStore) -> None:
    assert await keystore.get("participant-1") is None


async def test_given_a_key_when_erased_then_it_is_gone_and_erase_is_idempotent(
    keystore: KeyStore,
) -> None:
    await keystore.get_or_create("participant-1")
    await keystore.get_or_create("participant-2")

    assert await keystore.erase("participant-1") is True
    assert await keystore.erase("participant-1") is False

    assert await keystore.get("participant-1") is None
    assert await keystore.get("participant-2") is not None


async def test_given_an_erased_subject_when_get_or_create_then_subject_erased_is_raised(
    keystore: KeyStore,
) -> None:
    await keystore.get_or_create("participant-1")
    before = datetime.now(UTC)
    await keystore.erase("participant-1")

    with pytest.raises(SubjectErased) as raised:
        await keystore.get_or_create("participant-1")

    assert raised.value.subject == "participant-1"
    assert before <= raised.value.erased_at <= datetime.now(UTC)
    assert await keystore.get("participant-1") is None


async def test_given_a_subject_without_key_when_erased_then_no_key_is_ever_created_for_it(
    keystore: KeyStore,
) -> None:
    assert await keystore.erase("participant-1") is True
    with pytest.raises(SubjectErased):
        await keystore.get_or_create("participant-1")


async def test_given_50_concurrent_callers_when_get_or_create_then_all_get_the_same_key(
    keystore: KeyStore,
) -> None:
    keys = await asyncio.gather(*(keystore.get_or_create("participant-1") for _ in range(50)))
    assert len({key.key_id for key in keys}) == 1
    assert len({key.key for key in keys}) == 1
    assert await keystore.get("participant-1") == keys[0]


async def test_given_an_empty_subject_when_used_then_it_is_refused(keystore: KeyStore) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        await keystore.get_or_create("")
    with pytest.raises(ValueError, match="non-empty"):
        await keystore.erase("")


async def test_given_a_closed_store_when_used_then_it_refuses(keystore: KeyStore) -> None:
    await keystore.get_or_create("participant-1")
    await keystore.close()
    with pytest.raises(KeyStoreError, match="closed"):
        await keystore.get("participant-1")
    await keystore.close()  # closing twice is harmless


def test_given_a_data_key_when_printed_then_the_key_bytes_are_not_shown() -> None:
    key = DataKey.generate()
    for text in (repr(key), str(key), f"{key}"):
        assert key.key_id in text
        assert key.key.hex() not in text
        assert repr(key.key) not in text


def test_given_bytes_of_the_wrong_length_when_made_a_data_key_then_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DataKey(key_id="k", key=b"short")
