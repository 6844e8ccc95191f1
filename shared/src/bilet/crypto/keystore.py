"""Per-subject data keys for crypto-shredding: the key-store port, its errors, the in-memory
adapter and `NoKeyStore` for processes that hold no keys (the master key that wraps stored keys:
`master`; the SQLite and PostgreSQL adapters: `sqlite`, `postgres`).

A subject (a participant) owns one AES-256-GCM data key; its personal fields are encrypted with it.
The keys live apart from the events, so destroying one key makes that subject's fields unreadable in
every copy of the history while everything else stays replayable (ARCHITECTURE §3, 152-FZ).
"""

import secrets
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12


class KeyStoreError(Exception):
    """A key store cannot do what was asked (closed, misconfigured, damaged)."""


class KeysNotHeld(KeyStoreError):
    """The process was started without the keys (`NoKeyStore`), yet something asked for one."""


class SubjectErased(KeyStoreError):
    """The subject's key was destroyed, and no new key is ever made for it."""

    def __init__(self, subject: str, erased_at: datetime) -> None:
        super().__init__(
            f"subject {subject!r} was erased at {erased_at.isoformat()}; no key is created for it"
        )
        self.subject = subject
        self.erased_at = erased_at


def associated_data(*parts: str) -> bytes:
    """Bytes that bind a ciphertext to its context.

    Each part is length-prefixed, so no two different tuples of parts can give the same bytes (a
    plain separator could be forged by a subject id that contains it).
    """
    out: list[bytes] = []
    for part in parts:
        raw = part.encode("utf-8")
        out.append(len(raw).to_bytes(4, "big"))
        out.append(raw)
    return b"".join(out)


def _check_subject(subject: str) -> None:
    if not isinstance(subject, str) or not subject:
        raise ValueError("a subject is a non-empty string (an opaque participant id)")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ErasuresSince:
    """What `KeyStore.erasures_since` found: the subjects erased after the position asked about,
    in the order of their erasure, and the position to ask from next time."""

    position: int
    subjects: tuple[str, ...] = ()


class _ErasuresInProcess:
    """A count of the erasures this process has made, through any key store object.

    Caches in the same process (several services sharing one key store file, `make run`) compare
    it on every use and ask their store what was erased as soon as it moves, instead of waiting
    for their next periodic check: an erasure reaches them at once.
    """

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def announce(self) -> None:
        self.count += 1


ERASURES_IN_PROCESS: Final = _ErasuresInProcess()


@dataclass(frozen=True, slots=True)
class DataKey:
    """One subject's AES-256-GCM key. Its repr shows the key id only, never the key bytes."""

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes")

    @classmethod
    def generate(cls) -> "DataKey":
        return cls(key_id=str(uuid.uuid4()), key=secrets.token_bytes(KEY_BYTES))


class KeyStore(Protocol):
    """The one port through which services reach data keys.

    `subject` is an opaque participant id, never personal data: it stays in the erasure record.
    """

    async def get_or_create(self, subject: str) -> DataKey:
        """The subject's key, created on first use; concurrent callers all get the same key.

        Raises `SubjectErased` once the subject was erased.
        """
        ...

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        """`get_or_create` for many subjects in one step (one transaction where the store has
        them), for bulk registrations; raises `SubjectErased` if any subject was erased."""
        ...

    async def get(self, subject: str) -> DataKey | None:
        """The subject's key, or None when it was erased or never created."""
        ...

    async def erase(self, subject: str) -> bool:
        """Destroy the subject's key and record the erasure (subject and time, no key material).

        Idempotent: True when this call recorded the erasure, False when it was already recorded.
        A subject that never had a key is recorded too, so no key is ever created for it later.
        Adapters announce every erasure to `ERASURES_IN_PROCESS` (even one that failed half way:
        a needless check costs one query, a missed one would leave a key cached).
        """
        ...

    async def erasures_since(self, position: int | None) -> ErasuresSince:
        """The subjects erased after `position` (one this method returned earlier), in the order
        their erasures committed, and the new position; None asks where the log ends now (no
        subjects). One indexed query: caches call it about once a second, so that an erasure
        made anywhere reaches them within that bound (`FieldCipher`). An erasure never commits
        behind one at a later position, so nothing is skipped."""
        ...

    async def close(self) -> None: ...


class InMemoryKeyStore:
    """A key store in a dict, for unit tests and throw-away runs: the keys die with the process."""

    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock
        self._keys: dict[str, DataKey] = {}
        self._erased: dict[str, datetime] = {}
        self._erasure_log: list[str] = []
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise KeyStoreError("the key store is closed")

    # No method awaits between reading and writing its dicts, so each one is atomic on the loop.
    async def get_or_create(self, subject: str) -> DataKey:
        _check_subject(subject)
        self._check_open()
        if (erased_at := self._erased.get(subject)) is not None:
            raise SubjectErased(subject, erased_at)
        if (key := self._keys.get(subject)) is None:
            key = self._keys[subject] = DataKey.generate()
        return key

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        wanted = list(dict.fromkeys(subjects))
        for subject in wanted:
            _check_subject(subject)
        self._check_open()
        # All or nothing, as in the durable stores: no key is made when any subject was erased.
        for subject in wanted:
            if (erased_at := self._erased.get(subject)) is not None:
                raise SubjectErased(subject, erased_at)
        return {subject: await self.get_or_create(subject) for subject in wanted}

    async def get(self, subject: str) -> DataKey | None:
        _check_subject(subject)
        self._check_open()
        return self._keys.get(subject)

    async def erase(self, subject: str) -> bool:
        _check_subject(subject)
        self._check_open()
        self._keys.pop(subject, None)
        ERASURES_IN_PROCESS.announce()
        if subject in self._erased:
            return False
        self._erased[subject] = self._clock()
        self._erasure_log.append(subject)
        return True

    async def erasures_since(self, position: int | None) -> ErasuresSince:
        self._check_open()
        end = len(self._erasure_log)
        if position is None:
            return ErasuresSince(end)
        return ErasuresSince(end, tuple(self._erasure_log[position:]))

    async def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> "InMemoryKeyStore":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class NoKeyStore:
    """The key store of a process that holds no keys: it refuses every use with `KeysNotHeld`.

    A process that seals and opens nothing (the recommender's API when its worker issues, ADR
    0046) is given neither the master key nor the key store's address, so that a compromise of
    it reads no personal data; this stands in for the store its code is built with. A path that
    reaches for a key after all fails loudly, naming the process, instead of reading without it.
    """

    def __init__(self, holder: str) -> None:
        self._holder = holder

    def _refuse(self) -> KeysNotHeld:
        return KeysNotHeld(
            f"{self._holder} holds no data keys (started without BVB_MASTER_KEY and the key "
            "store): nothing it runs may seal or open personal fields"
        )

    async def get_or_create(self, subject: str) -> DataKey:
        raise self._refuse()

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        raise self._refuse()

    async def get(self, subject: str) -> DataKey | None:
        raise self._refuse()

    async def erase(self, subject: str) -> bool:
        raise self._refuse()

    async def erasures_since(self, position: int | None) -> ErasuresSince:
        raise self._refuse()

    async def close(self) -> None:
        """Nothing to close: nothing was opened."""

    def __repr__(self) -> str:
        return f"NoKeyStore({self._holder!r})"
