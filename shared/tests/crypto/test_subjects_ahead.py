"""New subjects with keys made ahead (`SubjectsAhead`): the keys exist before the id is handed
out, a batch costs one key-store call, sealing for a taken id asks the key store nothing, and an
erasure learned after the keys were made is not bypassed by the cached copy.

The key store is the in-memory adapter, wrapped to count its calls (a real `KeyStore`)."""

import asyncio
from collections.abc import Collection
from uuid import UUID

import pytest

from bilet.crypto import (
    DataKey,
    FieldCipher,
    InMemoryKeyStore,
    SubjectErased,
    SubjectsAhead,
)


class CountingKeyStore(InMemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def get_or_create(self, subject: str) -> DataKey:
        self.calls += 1
        return await super().get_or_create(subject)

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        self.calls += 1
        # Sequential calls of the base class would count as one each: count the batch once.
        calls, result = self.calls, await super().get_or_create_many(subjects)
        self.calls = calls
        return result

    async def get(self, subject: str) -> DataKey | None:
        self.calls += 1
        return await super().get(subject)


def two_keys(subject_id: UUID) -> tuple[str, str]:
    return str(subject_id), f"health:{subject_id}"


async def test_taken_ids_are_new_and_their_keys_exist_before_use() -> None:
    keys = CountingKeyStore()
    ahead = SubjectsAhead(FieldCipher(keys), two_keys, batch=4)

    taken = [await ahead.take() for _ in range(6)]

    assert len(set(taken)) == 6
    for subject_id in taken:
        for subject in two_keys(subject_id):
            assert await InMemoryKeyStore.get(keys, subject) is not None
    assert keys.calls == 2  # two batches of four: one key-store call each
    assert ahead.ready == 2


async def test_sealing_for_a_taken_id_asks_the_key_store_nothing() -> None:
    keys = CountingKeyStore()
    cipher = FieldCipher(keys)
    ahead = SubjectsAhead(cipher, two_keys, batch=3)
    subject_id = await ahead.take()
    calls = keys.calls

    sealed = await cipher.encrypt(str(subject_id), {"name": "Иванова"}, ["name"])
    await cipher.encrypt(f"health:{subject_id}", {"kind": "зрение"}, ["kind"])

    assert keys.calls == calls
    assert (await cipher.decrypt(str(subject_id), sealed))["name"] == "Иванова"


async def test_concurrent_takers_share_refills() -> None:
    keys = CountingKeyStore()
    ahead = SubjectsAhead(FieldCipher(keys), two_keys, batch=4)

    taken = await asyncio.gather(*(ahead.take() for _ in range(10)))

    assert len(set(taken)) == 10
    assert keys.calls == 3  # ceil(10 / 4) batches, not one per taker


async def test_an_erasure_learned_after_the_keys_were_made_is_not_bypassed() -> None:
    keys = CountingKeyStore()
    cipher = FieldCipher(keys)
    ahead = SubjectsAhead(cipher, two_keys, batch=2)
    await ahead.take()
    # The second id's keys are made and waiting; its subject is erased before it is taken (an id
    # nobody has seen yet, so only a test can do it; the cipher must still not trust its copy).
    ((waiting, _),) = list(ahead._ready)
    await cipher.erase(str(waiting))

    assert await ahead.take() == waiting
    with pytest.raises(SubjectErased):
        await cipher.encrypt(str(waiting), {"name": "Иванова"}, ["name"])


def test_a_batch_holds_at_least_one_subject() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SubjectsAhead(FieldCipher(InMemoryKeyStore()), two_keys, batch=0)
