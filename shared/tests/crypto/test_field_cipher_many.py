"""Sealing and opening many records in one call (`FieldCipher.encrypt_many`, `decrypt_many`):
the same envelopes as one record at a time, with one erasure check and one key lookup per
subject; and the envelope's wire format, pinned by an envelope made before these calls existed.

The key stores are real `KeyStore` implementations (the in-memory adapter, wrapped to count calls
or to hand out one fixed key).
"""

import base64
import json
from collections.abc import Collection

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bilet.crypto import (
    ERASED,
    DataKey,
    ErasuresSince,
    FieldCipher,
    FieldCipherError,
    InMemoryKeyStore,
)
from bilet.crypto.keystore import associated_data

RECORD: dict[str, object] = {
    "full_name": "Иванова Мария Петровна",
    "accessibility": {"needs": ["step-free access"], "ovz": True},
    "grade": 7,
}
PERSONAL = ("full_name", "accessibility")

# A key and the envelopes `FieldCipher.encrypt("p-1", RECORD, PERSONAL)` made with it before
# `encrypt_many` existed: what is already stored must open for ever.
FIXED_KEY = DataKey("k-0001", bytes(range(32)))
SEALED_BEFORE = {
    "full_name": {
        "$enc": "aesgcm-v1",
        "kid": "k-0001",
        "n": "GUtqFGhZrhy1xTp5",
        "ct": "iQKvXa4CuQS4MhU0EncLuTR9uENvSAN7XYE4gQ1fDAQnFjpMbpzCpkF7bc9VK+dGJUa22jyu8suwjZiA",
    },
    "accessibility": {
        "$enc": "aesgcm-v1",
        "kid": "k-0001",
        "n": "bVOhVlYnYKvemUkW",
        "ct": "ZTRv+h1TbK0J7P9u612YqCSWVxkj1V6zDVR2Xrzg2NIQYDxaHwR57Ml3fGWFHwVdAIgeL35uI9t0",
    },
    "grade": 7,
}


class FixedKeyStore(InMemoryKeyStore):
    """Every subject has `FIXED_KEY`: lets a test open envelopes made in another run."""

    async def get_or_create(self, subject: str) -> DataKey:
        return FIXED_KEY

    async def get(self, subject: str) -> DataKey | None:
        return FIXED_KEY


class CountingKeyStore(InMemoryKeyStore):
    """Counts the key-store calls a cipher makes (each a round trip, a transaction when new)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def get_or_create(self, subject: str) -> DataKey:
        self.calls.append("get_or_create")
        return await super().get_or_create(subject)

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        self.calls.append("get_or_create_many")
        made = len(self.calls)
        try:
            return await super().get_or_create_many(subjects)
        finally:
            del self.calls[made:]  # the adapter's own calls inside it are one call of the port

    async def get(self, subject: str) -> DataKey | None:
        self.calls.append("get")
        return await super().get(subject)

    async def erasures_since(self, position: int | None) -> ErasuresSince:
        self.calls.append("erasures_since")
        return await super().erasures_since(position)


def _length_prefixed(*parts: str) -> bytes:
    """The associated data as docs/adr/0004 describes it, built here apart from the code."""
    out = b""
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return out


async def test_given_envelopes_sealed_before_encrypt_many_when_opened_then_they_read_back() -> None:
    cipher = FieldCipher(FixedKeyStore())

    assert await cipher.decrypt("p-1", SEALED_BEFORE) == RECORD
    assert await cipher.decrypt_many([("p-1", SEALED_BEFORE)] * 3) == [RECORD] * 3


async def test_given_records_sealed_many_at_once_then_each_envelope_has_the_one_wire_format() -> (
    None
):
    cipher = FieldCipher(FixedKeyStore())

    (sealed,) = await cipher.encrypt_many([("p-1", RECORD, PERSONAL)])

    assert sealed["grade"] == 7
    for name in PERSONAL:
        envelope = sealed[name]
        assert isinstance(envelope, dict)
        assert sorted(envelope) == ["$enc", "ct", "kid", "n"]
        assert envelope["$enc"] == "aesgcm-v1"
        assert envelope["kid"] == "k-0001"
        nonce = base64.b64decode(envelope["n"], validate=True)
        assert len(nonce) == 12
        plaintext = AESGCM(FIXED_KEY.key).decrypt(
            nonce,
            base64.b64decode(envelope["ct"], validate=True),
            _length_prefixed("aesgcm-v1", "p-1", name, "k-0001"),
        )
        # Compact JSON, UTF-8 as it is (no \\u escapes).
        expected = json.dumps(RECORD[name], ensure_ascii=False, separators=(",", ":"))
        assert plaintext == expected.encode("utf-8")


async def test_given_many_records_of_two_subjects_when_sealed_then_one_key_store_call() -> None:
    store = CountingKeyStore()
    cipher = FieldCipher(store)
    records = [(subject, {**RECORD, "grade": n}, PERSONAL) for n in range(20) for subject in "AB"]

    sealed = await cipher.encrypt_many(records)

    # One erasure check (the first only learns where the log ends), one call for both new keys.
    assert store.calls == ["erasures_since", "get_or_create_many"]
    assert len(sealed) == len(records)
    opened = await cipher.decrypt_many(
        [(s, data) for (s, _, _), data in zip(records, sealed, strict=True)]
    )
    assert opened == [data for _, data, _ in records]
    assert [
        await cipher.decrypt(s, data) for (s, _, _), data in zip(records, sealed, strict=True)
    ] == opened
    nonces = {data[name]["n"] for data in sealed for name in PERSONAL}  # type: ignore[index]
    assert len(nonces) == 2 * len(records)  # a fresh nonce per value, as one at a time


async def test_given_many_records_when_opened_at_once_then_one_erasure_check_and_key_read() -> None:
    now = [0.0]
    store = CountingKeyStore()
    # A clock that has always moved on by the next call: every call would check erasures.
    cipher = FieldCipher(store, erasure_check=1.0, clock=lambda: now[0])
    sealed = [await cipher.encrypt("p-1", {**RECORD, "grade": n}, PERSONAL) for n in range(40)]
    cipher.forget("p-1")
    now[0] += 2.0
    store.calls.clear()

    opened = await cipher.decrypt_many([("p-1", data) for data in sealed])

    assert store.calls == ["erasures_since", "get"]
    assert [data["grade"] for data in opened] == list(range(40))
    assert all(data["full_name"] == RECORD["full_name"] for data in opened)


async def test_given_one_erased_subject_among_many_when_opened_then_only_its_fields_erased() -> (
    None
):
    cipher = FieldCipher(InMemoryKeyStore())
    sealed = await cipher.encrypt_many([("A", RECORD, PERSONAL), ("B", RECORD, PERSONAL)])
    await cipher.erase("A")

    erased, kept = await cipher.decrypt_many([("A", sealed[0]), ("B", sealed[1])])

    assert erased == {"full_name": ERASED, "accessibility": ERASED, "grade": 7}
    assert kept == RECORD


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (("B", RECORD, ["snils"]), ValueError),  # a misspelt field
        (("B", {**RECORD, "full_name": object()}, PERSONAL), TypeError),  # not JSON
        (("B", RECORD, "full_name"), TypeError),  # one name, not a collection
    ],
)
async def test_given_one_bad_record_among_many_when_sealed_then_nothing_and_no_key_is_made(
    bad: tuple[str, dict[str, object], Collection[str]], error: type[Exception]
) -> None:
    store = CountingKeyStore()

    with pytest.raises(error):
        await FieldCipher(store).encrypt_many([("A", RECORD, PERSONAL), bad])

    assert store.calls == []
    assert await store.get("A") is None


async def test_given_one_damaged_envelope_among_many_when_opened_then_the_call_fails() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    good, other = await cipher.encrypt_many([("A", RECORD, PERSONAL), ("B", RECORD, PERSONAL)])
    moved = {**good, "full_name": good["accessibility"]}  # a ciphertext moved to another field

    with pytest.raises(FieldCipherError, match="does not authenticate"):
        await cipher.decrypt_many([("A", good), ("A", moved)])
    with pytest.raises(FieldCipherError, match="not with the key"):
        await cipher.decrypt_many([("A", good), ("A", other)])  # B's envelopes as A's
    with pytest.raises(FieldCipherError, match="malformed"):
        await cipher.decrypt_many([("A", good), ("A", {"x": {"$enc": "aesgcm-v1", "n": "AA"}})])


async def test_given_nothing_to_seal_or_open_when_called_then_no_key_store_call() -> None:
    store = CountingKeyStore()
    cipher = FieldCipher(store)

    assert await cipher.encrypt_many([]) == []
    assert await cipher.encrypt_many([("A", RECORD, [])]) == [RECORD]
    assert await cipher.decrypt_many([("A", RECORD)]) == [RECORD]
    assert store.calls == []


def test_associated_data_is_each_part_length_prefixed_in_utf_8() -> None:
    """The bytes every envelope is bound to, whatever way they are built (docs/adr/0099):
    each part's UTF-8 length as 4 big-endian bytes, then the part."""
    assert associated_data("aesgcm-v1", "бв", "") == (
        b"\x00\x00\x00\x09aesgcm-v1" + b"\x00\x00\x00\x04\xd0\xb1\xd0\xb2" + b"\x00\x00\x00\x00"
    )
    assert associated_data() == b""
