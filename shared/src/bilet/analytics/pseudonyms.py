"""Pseudonyms per export purpose: an id of a person or of a person's record, replaced by a keyed
hash (HMAC-SHA256) under a key that belongs to one purpose.

The key is a data key of the suite's key store under a reserved subject,
`bilet.analytics.purpose-key/<purpose>` (never a participant id, so no participant's erasure
reaches it; wrapped by the master key like every other key). Two purposes have two keys, so
their pseudonyms share nothing and cannot be joined with each other, nor with the live system,
whose ids are never exported. Destroying a purpose's key (`retire_purpose`) makes its past
exports unlinkable for good: no new export can ever give the same pseudonyms again.
"""

import contextlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from bilet.crypto import KeyStore

PURPOSE_KEY_SUBJECT: Final = "bilet.analytics.purpose-key"
# A purpose names a directory, a key subject and a manifest entry: a short, plain code.
PURPOSE_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# 128 bits of the HMAC (32 hex characters): collisions are out of reach for any season's ids.
PSEUDONYM_BYTES: Final = 16
# Ids that recur (a participant's, a consent's) are remembered: up to this many (~20 MB), then
# forgotten all at once — a bound, not an eviction policy worth its cost. The population's ids
# are pinned apart (`pin`): they recur in most events and the run holds them anyway.
REMEMBERED_PSEUDONYMS: Final = 100_000


class InvalidPurpose(ValueError):
    """A purpose name that is not a short lower-case code."""


def check_purpose(purpose: str) -> str:
    if not PURPOSE_PATTERN.fullmatch(purpose):
        raise InvalidPurpose(
            f"{purpose!r} is no purpose name: lower-case letters, digits, '_' or '-', "
            "starting with a letter, at most 63 characters"
        )
    return purpose


def purpose_key_subject(purpose: str) -> str:
    return f"{PURPOSE_KEY_SUBJECT}/{check_purpose(purpose)}"


def _pseudonym(key: bytes, raw: bytes) -> str:
    """The pseudonym of an id's 16 bytes under `key`."""
    # `hmac.digest` is the one-shot C path: several times faster than `hmac.new`.
    return hmac.digest(key, raw, "sha256")[:PSEUDONYM_BYTES].hex()


def _id_bytes(text: str) -> bytes:
    """An id's 16 bytes from its text, as `UUID(text).bytes`; the canonical spelling (what the
    contract writes) without building a `UUID`, a Python object, for each."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        with contextlib.suppress(ValueError):
            if len(value := bytes.fromhex(text.replace("-", ""))) == 16:
                return value
    return UUID(text).bytes


@dataclass(frozen=True)
class Pseudonymiser:
    """Replaces ids by their pseudonyms under one purpose's key. Its repr never shows the key."""

    purpose: str
    key: bytes = field(repr=False)
    # Keyed by the id's text, as the export's rows hold it (a `str` hashes in C, a `UUID` in
    # Python); the pseudonym is the HMAC of the id's 16 bytes whatever text spelt it.
    _remembered: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _pinned: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __call__(self, value: UUID) -> str:
        return self.of_text(str(value))

    def of_text(self, value: str) -> str:
        """The pseudonym of an id given as its text (a `ValueError` if it is none)."""
        if (known := self._pinned.get(value)) is not None:
            return known
        if (known := self._remembered.get(value)) is not None:
            return known
        if len(self._remembered) >= REMEMBERED_PSEUDONYMS:
            self._remembered.clear()
        pseudonym = self._remembered[value] = _pseudonym(self.key, _id_bytes(value))
        return pseudonym

    def of_unique(self, values: Iterable[UUID]) -> list[str]:
        """The pseudonyms of ids met once each (events' own ids), not remembered: they would
        only push out the ids that recur."""
        key = self.key
        return [_pseudonym(key, value.bytes) for value in values]

    def pin(self, values: Iterable[UUID]) -> dict[UUID, str]:
        """The pseudonyms of `values`, remembered for as long as the pseudonymiser lives (the
        population's participants: a run holds them anyway)."""
        key = self.key
        pinned = {value: _pseudonym(key, value.bytes) for value in values}
        self._pinned.update((str(value), pseudonym) for value, pseudonym in pinned.items())
        return pinned


async def pseudonymiser_for(keystore: KeyStore, purpose: str) -> Pseudonymiser:
    """The purpose's pseudonymiser, its key made in the key store on first use.

    Raises `SubjectErased` once the purpose was retired."""
    data_key = await keystore.get_or_create(purpose_key_subject(purpose))
    return Pseudonymiser(purpose, data_key.key)


async def retire_purpose(keystore: KeyStore, purpose: str) -> bool:
    """Destroy the purpose's key: its exports can never be linked again, nor made anew."""
    return await keystore.erase(purpose_key_subject(purpose))
