"""The field cipher: chosen fields encrypted per subject, read back, or read as ERASED once erased.

The key stores used here are real `KeyStore` implementations: the in-memory adapter, and small
wrappers around it that count calls, gate them, or share one key between subjects.
"""

import asyncio
import copy
import json
import pickle
from datetime import date

import pytest

from bilet.crypto import (
    ERASED,
    ERASURES_IN_PROCESS,
    DataKey,
    FieldCipher,
    FieldCipherError,
    InMemoryKeyStore,
    KeyStoreError,
    SubjectErased,
    is_erased,
)

RECORD: dict[str, object] = {
    "participant_id": "p-1",
    "full_name": "Иванова Мария Петровна",
    "snils": "112-233-445 95",
    "grade": 7,
    "accessibility": {"needs": ["step-free access"], "ovz": True},
    "guardian_phone": None,
}
PERSONAL = ("full_name", "snils", "accessibility", "guardian_phone")


class CountingKeyStore(InMemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, subject: str) -> DataKey | None:
        self.reads += 1
        return await super().get(subject)


class GatedKeyStore(InMemoryKeyStore):
    """`get` fetches the key, then waits: lets a test erase while a decrypt is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched = asyncio.Event()
        self.release = asyncio.Event()
        self.gated = False

    async def get(self, subject: str) -> DataKey | None:
        key = await super().get(subject)
        if self.gated:
            self.fetched.set()
            await self.release.wait()
        return key


class OneKeyForAllStore(InMemoryKeyStore):
    """Every subject gets the same key: isolates the subject binding of the ciphertext."""

    def __init__(self) -> None:
        super().__init__()
        self.key = DataKey.generate()

    async def get_or_create(self, subject: str) -> DataKey:
        return self.key

    async def get(self, subject: str) -> DataKey | None:
        return self.key


async def test_given_a_record_when_encrypted_and_decrypted_then_it_round_trips() -> None:
    cipher = FieldCipher(InMemoryKeyStore())

    encrypted = await cipher.encrypt("p-1", RECORD, PERSONAL)

    assert encrypted["participant_id"] == "p-1"
    assert encrypted["grade"] == 7
    for name in PERSONAL:
        envelope = encrypted[name]
        assert isinstance(envelope, dict)
        assert sorted(envelope) == ["$enc", "ct", "kid", "n"]
        assert envelope["$enc"] == "aesgcm-v1"
    text = json.dumps(encrypted, ensure_ascii=False)
    assert "Иванова" not in text
    assert "112-233-445" not in text
    assert "step-free" not in text
    assert await cipher.decrypt("p-1", json.loads(text)) == RECORD


async def test_given_a_record_when_encrypted_then_the_input_is_left_alone() -> None:
    record = copy.deepcopy(RECORD)
    await FieldCipher(InMemoryKeyStore()).encrypt("p-1", record, PERSONAL)
    assert record == RECORD


async def test_given_one_value_when_encrypted_twice_then_the_ciphertexts_differ() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    one = await cipher.encrypt("p-1", RECORD, ["snils"])
    two = await cipher.encrypt("p-1", RECORD, ["snils"])
    assert one["snils"] != two["snils"]


async def test_given_a_ciphertext_moved_to_another_field_when_decrypted_then_it_fails() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    encrypted = await cipher.encrypt("p-1", RECORD, ["full_name", "snils"])
    swapped = {**encrypted, "full_name": encrypted["snils"], "snils": encrypted["full_name"]}

    with pytest.raises(FieldCipherError, match="does not authenticate"):
        await cipher.decrypt("p-1", swapped)


async def test_given_a_ciphertext_moved_to_another_subject_when_decrypted_then_it_fails() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    await cipher.encrypt("p-2", RECORD, ["snils"])
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])

    with pytest.raises(FieldCipherError, match="encrypted with key"):
        await cipher.decrypt("p-2", encrypted)


async def test_given_one_key_for_two_subjects_when_moved_then_the_subject_binding_fails() -> None:
    cipher = FieldCipher(OneKeyForAllStore())
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])

    with pytest.raises(FieldCipherError, match="does not authenticate"):
        await cipher.decrypt("p-2", encrypted)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ct": "AAAA"}, "does not authenticate"),
        ({"$enc": "aesgcm-v9"}, "unknown envelope"),
        ({"n": "not base64!"}, "malformed"),
        ({"n": "AAAA"}, "malformed"),
        ({"kid": 7}, "malformed"),
    ],
)
async def test_given_a_damaged_envelope_when_decrypted_then_it_fails_loudly(
    change: dict[str, object], message: str
) -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])
    envelope = encrypted["snils"]
    assert isinstance(envelope, dict)

    with pytest.raises(FieldCipherError, match=message):
        await cipher.decrypt("p-1", {**encrypted, "snils": {**envelope, **change}})


async def test_given_an_erased_subject_when_decrypted_then_personal_fields_read_erased() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    encrypted = await cipher.encrypt("p-1", RECORD, PERSONAL)
    await cipher.decrypt("p-1", encrypted)  # the key is now cached

    assert await cipher.erase("p-1") is True
    decrypted = await cipher.decrypt("p-1", encrypted)

    assert decrypted["participant_id"] == "p-1"
    assert decrypted["grade"] == 7
    for name in PERSONAL:
        assert decrypted[name] is ERASED
        assert is_erased(decrypted[name])
    assert json.loads(json.dumps(decrypted))["snils"] == {"$erased": True}
    assert is_erased(json.loads(json.dumps(decrypted))["snils"])


async def test_given_an_erased_subject_when_erased_again_then_nothing_changes() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])

    assert await cipher.erase("p-1") is True
    assert await cipher.erase("p-1") is False
    assert (await cipher.decrypt("p-1", encrypted))["snils"] is ERASED


async def test_given_an_erased_subject_when_encrypting_for_it_then_subject_erased() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    await cipher.encrypt("p-1", RECORD, ["snils"])
    await cipher.erase("p-1")

    with pytest.raises(SubjectErased):
        await cipher.encrypt("p-1", RECORD, ["snils"])


async def test_given_an_erasure_made_elsewhere_when_forgotten_then_fields_read_erased() -> None:
    store = InMemoryKeyStore()
    cipher = FieldCipher(store)
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])

    await store.erase("p-1")  # e.g. by the consent service, through its own cipher
    cipher.forget("p-1")  # what a ParticipantErased handler does

    assert (await cipher.decrypt("p-1", encrypted))["snils"] is ERASED


class AnotherProcessKeyStore(InMemoryKeyStore):
    """Erases as a store in another process would: this process hears nothing of it."""

    async def erase(self, subject: str) -> bool:
        heard = ERASURES_IN_PROCESS.count
        try:
            return await super().erase(subject)
        finally:
            ERASURES_IN_PROCESS.count = heard


async def test_given_an_erasure_made_in_another_process_when_the_check_is_due_then_erased() -> None:
    now = [0.0]
    store = AnotherProcessKeyStore()
    cipher = FieldCipher(store, cache_ttl=60.0, erasure_check=1.0, clock=lambda: now[0])
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])
    await store.erase("p-1")

    # Within the check interval the cached key may still open the field, never longer.
    now[0] = 0.5
    assert (await cipher.decrypt("p-1", encrypted))["snils"] == RECORD["snils"]
    now[0] = 1.0
    assert (await cipher.decrypt("p-1", encrypted))["snils"] is ERASED


async def test_given_an_erasure_in_this_process_then_every_cipher_forgets_at_once() -> None:
    now = [0.0]  # the clock never moves: only the process's own erasure count can tell them
    store = InMemoryKeyStore()
    ciphers = [FieldCipher(store, clock=lambda: now[0]) for _ in range(3)]
    encrypted = await ciphers[0].encrypt("p-1", RECORD, ["snils"])
    for cipher in ciphers:
        assert (await cipher.decrypt("p-1", encrypted))["snils"] == RECORD["snils"]

    await store.erase("p-1")

    for cipher in ciphers:
        assert (await cipher.decrypt("p-1", encrypted))["snils"] is ERASED


async def test_given_a_key_store_that_cannot_answer_when_a_check_is_due_then_nothing_opens() -> (
    None
):
    now = [0.0]
    store = InMemoryKeyStore()
    cipher = FieldCipher(store, clock=lambda: now[0])
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])
    await store.close()

    now[0] = 1.0
    # The cached key may belong to a subject erased meanwhile: fail rather than trust it.
    with pytest.raises(KeyStoreError):
        await cipher.decrypt("p-1", encrypted)


async def test_given_a_decrypt_in_flight_when_erased_then_no_stale_key_stays_cached() -> None:
    store = GatedKeyStore()
    cipher = FieldCipher(store)
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])
    cipher.forget("p-1")
    store.gated = True

    in_flight = asyncio.create_task(cipher.decrypt("p-1", encrypted))
    await store.fetched.wait()  # the key is fetched, not yet returned
    await cipher.erase("p-1")
    store.release.set()
    assert (await in_flight)["snils"] == RECORD["snils"]  # it read before the erasure finished

    store.gated = False
    assert (await cipher.decrypt("p-1", encrypted))["snils"] is ERASED


async def test_given_many_records_of_one_subject_when_decrypted_then_the_key_is_read_once() -> None:
    store = CountingKeyStore()
    cipher = FieldCipher(store)
    encrypted = await cipher.encrypt("p-1", RECORD, PERSONAL)
    cipher.forget("p-1")

    for _ in range(20):
        await cipher.decrypt("p-1", encrypted)

    assert store.reads == 1


async def test_given_a_small_cache_when_more_subjects_are_used_then_the_oldest_is_dropped() -> None:
    store = CountingKeyStore()
    cipher = FieldCipher(store, cache_size=2)
    encrypted = {s: await cipher.encrypt(s, RECORD, ["snils"]) for s in ("p-1", "p-2", "p-3")}
    # p-1 was pushed out by p-3; p-2 and p-3 are still cached.
    for subject in ("p-2", "p-3"):
        await cipher.decrypt(subject, encrypted[subject])
    assert store.reads == 0
    await cipher.decrypt("p-1", encrypted["p-1"])
    assert store.reads == 1


async def test_given_no_fields_when_encrypted_then_no_key_is_created() -> None:
    store = InMemoryKeyStore()
    assert await FieldCipher(store).encrypt("p-1", RECORD, []) == RECORD
    assert await store.get("p-1") is None


async def test_given_a_record_without_envelopes_when_decrypted_then_it_is_unchanged() -> None:
    store = CountingKeyStore()
    assert await FieldCipher(store).decrypt("p-1", RECORD) == RECORD
    assert store.reads == 0


async def test_given_a_misspelt_field_when_encrypted_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="fullname"):
        await FieldCipher(InMemoryKeyStore()).encrypt("p-1", RECORD, ["fullname"])


async def test_given_one_name_instead_of_a_collection_when_encrypted_then_it_is_refused() -> None:
    with pytest.raises(TypeError, match="collection"):
        await FieldCipher(InMemoryKeyStore()).encrypt("p-1", RECORD, "snils")


async def test_given_an_encrypted_field_when_encrypted_again_then_it_is_refused() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    encrypted = await cipher.encrypt("p-1", RECORD, ["snils"])
    with pytest.raises(ValueError, match="already encrypted"):
        await cipher.encrypt("p-1", encrypted, ["snils"])


async def test_given_a_value_that_is_not_json_when_encrypted_then_it_is_refused() -> None:
    record = {**RECORD, "birth_date": date(2011, 4, 5)}
    with pytest.raises(TypeError, match="birth_date") as raised:
        await FieldCipher(InMemoryKeyStore()).encrypt("p-1", record, ["birth_date"])
    assert "2011" not in str(raised.value)


def test_given_the_erased_marker_when_used_then_it_is_json_shared_and_read_only() -> None:
    assert json.dumps(ERASED) == '{"$erased": true}'
    assert ERASED == {"$erased": True}
    assert copy.deepcopy(ERASED) is ERASED
    assert pickle.loads(pickle.dumps(ERASED)) is ERASED  # noqa: S301 - our own bytes
    with pytest.raises(TypeError, match="read-only"):
        ERASED["$erased"] = False
    with pytest.raises(TypeError, match="read-only"):
        ERASED.update({"x": True})
    assert not is_erased({"$erased": 1})
    assert not is_erased({"$erased": True, "other": True})
    assert not is_erased("Иванова")
