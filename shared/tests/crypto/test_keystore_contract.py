"""The key-store contract: every adapter of the `KeyStore` port behaves the same way.

Tests taking `keystore` run over the in-memory, SQLite and PostgreSQL adapters; tests taking
`backend` over the durable ones, with several stores on one storage standing for several processes
of the suite (see conftest.py).
"""

import asyncio
import contextlib
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from bilet.crypto import (
    DataKey,
    KeyStore,
    KeyStoreError,
    MasterKey,
    MasterKeyError,
    SubjectErased,
)

if TYPE_CHECKING:
    from shared.tests.crypto.conftest import Backend


def _holds(files: list[bytes], needle: bytes) -> bool:
    return any(needle in content for content in files)


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


async def test_given_erasures_when_read_since_a_position_then_each_is_listed_once_in_order(
    keystore: KeyStore,
) -> None:
    await keystore.get_or_create("participant-1")
    await keystore.erase("participant-0")  # before the reader starts: not listed
    start = await keystore.erasures_since(None)
    assert start.subjects == ()

    await keystore.erase("participant-1")
    await keystore.erase("participant-2")  # never had a key: recorded all the same
    await keystore.erase("participant-1")  # again: no new erasure
    news = await keystore.erasures_since(start.position)

    assert news.subjects == ("participant-1", "participant-2")
    assert (await keystore.erasures_since(news.position)).subjects == ()
    await keystore.erase("participant-3")
    assert (await keystore.erasures_since(news.position)).subjects == ("participant-3",)


async def test_given_concurrent_erasures_when_read_while_they_commit_then_none_is_skipped(
    backend: "Backend",
) -> None:
    stores = [await backend.open(MasterKey.generate()) for _ in range(3)]
    reader = stores[0]
    position = (await reader.erasures_since(None)).position
    subjects = [f"participant-{n}" for n in range(30)]
    seen: list[str] = []

    async def read_along() -> None:
        nonlocal position
        while len(seen) < len(subjects):
            news = await reader.erasures_since(position)
            seen.extend(news.subjects)
            position = news.position
            await asyncio.sleep(0)

    async def erase(store: KeyStore, some: list[str]) -> None:
        for subject in some:
            await store.erase(subject)

    await asyncio.wait_for(
        asyncio.gather(
            read_along(),
            *(erase(store, subjects[n::3]) for n, store in enumerate(stores)),
        ),
        timeout=120,
    )
    assert sorted(seen) == sorted(subjects)


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


# ---------------------------------------------------------------- many subjects in one step


async def test_given_many_subjects_when_get_or_create_many_then_the_keys_are_the_ones_kept(
    keystore: KeyStore,
) -> None:
    one = await keystore.get_or_create("participant-1")
    subjects = [f"participant-{n}" for n in range(1, 1201)]

    many = await keystore.get_or_create_many([*subjects, "participant-7"])

    assert list(many) == subjects  # the caller's order, each subject once
    assert many["participant-1"] == one
    assert len({key.key_id for key in many.values()}) == len(subjects)
    for subject in ("participant-2", "participant-700", "participant-1200"):
        assert await keystore.get_or_create(subject) == many[subject]
        assert await keystore.get(subject) == many[subject]
    assert await keystore.get_or_create_many(subjects[:3]) == {s: many[s] for s in subjects[:3]}
    assert await keystore.get_or_create_many([]) == {}


async def test_given_an_erased_subject_among_many_when_created_then_no_key_is_made(
    keystore: KeyStore,
) -> None:
    await keystore.get_or_create("participant-1")
    await keystore.erase("participant-5")

    with pytest.raises(SubjectErased) as raised:
        await keystore.get_or_create_many(["participant-1", "participant-4", "participant-5"])

    assert raised.value.subject == "participant-5"
    assert await keystore.get("participant-4") is None  # all or nothing
    with pytest.raises(ValueError, match="non-empty"):
        await keystore.get_or_create_many(["participant-6", ""])
    assert await keystore.get("participant-6") is None


async def test_given_single_and_bulk_callers_at_once_when_they_overlap_then_they_agree(
    keystore: KeyStore,
) -> None:
    subjects = [f"participant-{n}" for n in range(40)]
    singles = [keystore.get_or_create(subjects[n % 40]) for n in range(80)]
    bulks = [keystore.get_or_create_many(subjects[n:] + subjects[:n]) for n in (0, 13, 27)]

    results = await asyncio.gather(*bulks, *singles)

    seen: dict[str, set[DataKey]] = defaultdict(set)
    for result in results[:3]:
        assert isinstance(result, dict)
        for subject, key in result.items():
            seen[subject].add(key)
    for n, single in enumerate(results[3:]):
        assert isinstance(single, DataKey)
        seen[subjects[n % 40]].add(single)
    assert all(len(keys) == 1 for keys in seen.values())
    assert len(seen) == 40


async def test_given_erasures_racing_creators_when_all_done_then_no_key_outlives_its_erasure(
    keystore: KeyStore,
) -> None:
    subjects = [f"participant-{n}" for n in range(10)]

    async def create(subject: str) -> None:
        with contextlib.suppress(SubjectErased):
            await keystore.get_or_create(subject)

    async def create_many() -> None:
        with contextlib.suppress(SubjectErased):
            await keystore.get_or_create_many(subjects)

    await asyncio.gather(
        *(create(subjects[n % 10]) for n in range(60)),
        *(create_many() for _ in range(3)),
        *(keystore.erase(subject) for subject in subjects),
    )

    for subject in subjects:
        assert await keystore.get(subject) is None
        with pytest.raises(SubjectErased):
            await keystore.get_or_create(subject)


# ---------------------------------------------------------------- durable adapters


async def test_given_a_reopened_store_when_read_then_keys_and_erasures_have_persisted(
    backend: "Backend",
) -> None:
    master_key = MasterKey.generate()
    store = await backend.open(master_key)
    kept = await store.get_or_create("participant-1")
    await store.get_or_create("participant-2")
    await store.erase("participant-2")
    await store.erase("participant-3")
    await store.close()

    reopened = await backend.open(master_key)
    assert await reopened.get("participant-1") == kept
    assert await reopened.get_or_create("participant-1") == kept
    assert await reopened.get("participant-2") is None
    for erased in ("participant-2", "participant-3"):
        with pytest.raises(SubjectErased):
            await reopened.get_or_create(erased)
        assert await reopened.erase(erased) is False


async def test_given_another_master_key_when_a_key_is_read_then_it_is_refused(
    backend: "Backend",
) -> None:
    store = await backend.open(MasterKey.generate())
    await store.get_or_create("participant-1")

    wrong = await backend.open(MasterKey.generate())
    with pytest.raises(MasterKeyError, match="another master key"):
        await wrong.get("participant-1")
    with pytest.raises(MasterKeyError):
        await wrong.get_or_create("participant-1")
    with pytest.raises(MasterKeyError):
        await wrong.get_or_create_many(["participant-1", "participant-2"])


async def test_given_a_wrapped_key_copied_to_another_subject_when_read_then_it_does_not_unwrap(
    backend: "Backend",
) -> None:
    store = await backend.open(MasterKey.generate())
    await store.get_or_create("participant-1")
    await store.get_or_create("participant-2")

    await backend.replace_wrapped("participant-2", await backend.wrapped("participant-1"))

    with pytest.raises(MasterKeyError):
        await store.get("participant-2")


async def test_given_stored_keys_when_the_storage_is_scanned_then_only_wrapped_keys_are_there(
    backend: "Backend",
) -> None:
    store = await backend.open(MasterKey.generate())
    keys = await store.get_or_create_many([f"participant-{n}" for n in range(50)])

    # The scan sees stored bytes (the wrapped key is there), yet no key in the clear.
    files = await backend.files()
    assert _holds(files, await backend.wrapped("participant-7"))
    for key in keys.values():
        assert not _holds(files, key.key)


async def test_given_erased_subjects_when_the_storage_is_scanned_then_their_keys_are_gone(
    backend: "Backend",
) -> None:
    store = await backend.open(MasterKey.generate())
    # Enough keys to fill several pages (and every PostgreSQL partition), so the erased ones
    # share their pages with kept ones.
    subjects = [f"participant-{n}" for n in range(300)]
    keys = await store.get_or_create_many(subjects)
    # The row written last sits at the low end of its page: when a plain VACUUM drops it, its
    # bytes stay in the page's free space (a page is compacted, not wiped).
    keys["participant-late"] = await store.get_or_create("participant-late")
    erased = ["participant-0", "participant-150", "participant-299", "participant-late"]
    kept = "participant-151"
    wrapped = {subject: await backend.wrapped(subject) for subject in [*erased, kept]}
    files = await backend.files()
    for subject in erased:
        assert _holds(files, wrapped[subject]), "control: the scan sees the stored key"

    for subject in erased:
        assert await store.erase(subject) is True

    # Right after erase returns, with the store still open.
    files = await backend.files()
    for subject in erased:
        assert not _holds(files, wrapped[subject])
        assert not _holds(files, keys[subject].key)
    assert _holds(files, wrapped[kept])
    assert await store.get(kept) == keys[kept]


async def test_given_two_processes_when_both_create_at_once_then_one_key_wins_per_subject(
    backend: "Backend",
) -> None:
    # Two stores on one storage stand for two processes (e.g. two services, or two replicas);
    # for PostgreSQL each has its own connection pool.
    master_key = MasterKey.generate()
    one, two = await backend.open(master_key), await backend.open(master_key)
    subjects = [f"participant-{n}" for n in range(8)]

    results = await asyncio.gather(
        *(store.get_or_create(subjects[n % 8]) for n in range(60) for store in (one, two)),
        *(store.get_or_create_many(subjects[::-1]) for store in (one, two)),
    )

    ids: dict[str, set[str]] = defaultdict(set)
    for n, result in enumerate(results[:120]):
        assert isinstance(result, DataKey)
        ids[subjects[n // 2 % 8]].add(result.key_id)
    for result in results[120:]:
        assert isinstance(result, dict)
        for subject, key in result.items():
            ids[subject].add(key.key_id)
    assert all(len(key_ids) == 1 for key_ids in ids.values())
    for subject in subjects:
        assert await one.get(subject) == await two.get(subject)

    # An erasure made by one is at once the other's: nothing to read, nothing to create.
    assert await one.erase("participant-3") is True
    assert await two.get("participant-3") is None
    with pytest.raises(SubjectErased):
        await two.get_or_create("participant-3")
    assert await two.erase("participant-3") is False


async def test_given_two_processes_when_erasing_while_creating_then_no_key_survives(
    backend: "Backend",
) -> None:
    master_key = MasterKey.generate()
    one, two = await backend.open(master_key), await backend.open(master_key)

    async def create(store: KeyStore, subject: str) -> None:
        with contextlib.suppress(SubjectErased):
            await store.get_or_create(subject)

    for round_ in range(5):
        subjects = [f"participant-{round_}-{n}" for n in range(6)]
        await asyncio.gather(
            *(create(store, subjects[n % 6]) for n in range(30) for store in (one, two)),
            *(store.erase(subject) for subject in subjects for store in (two, one)),
        )

        for subject in subjects:
            for store in (one, two):
                assert await store.get(subject) is None
                with pytest.raises(SubjectErased):
                    await store.get_or_create(subject)
