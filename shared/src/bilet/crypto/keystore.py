"""Per-subject data keys for crypto-shredding: the key-store port, master-key wrapping, adapters.

A subject (a participant) owns one AES-256-GCM data key; its personal fields are encrypted with it.
The keys live apart from the events, so destroying one key makes that subject's fields unreadable in
every copy of the history while everything else stays replayable (ARCHITECTURE §3, 152-FZ).
"""

import asyncio
import base64
import binascii
import logging
import os
import secrets
import sqlite3
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
MASTER_KEY_VARIABLE: Final = "BVB_MASTER_KEY"
MASTER_KEY_FILE: Final = "master.key"

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class KeyStoreError(Exception):
    """A key store cannot do what was asked (closed, misconfigured, damaged)."""


class MasterKeyError(KeyStoreError):
    """The master key is missing, malformed, exposed, or not the one the stored keys were wrapped
    with."""


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
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big")
        out += raw
    return bytes(out)


def _check_subject(subject: str) -> None:
    if not isinstance(subject, str) or not subject:
        raise ValueError("a subject is a non-empty string (an opaque participant id)")


def _utc_now() -> datetime:
    return datetime.now(UTC)


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


class MasterKey:
    """The key that wraps data keys before a key store writes them down.

    A copy of the key-store file alone (a backup, a stolen disk) then reveals no data key.
    """

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"the master key is {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls) -> "MasterKey":
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_base64(cls, text: str) -> "MasterKey":
        # The messages never echo the text: it is a secret, and errors end up in logs.
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError("the master key is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(f"the master key must decode to {KEY_BYTES} bytes")
        return cls(raw)

    def wrap(self, subject: str, data_key: DataKey) -> bytes:
        """`nonce ‖ ciphertext ‖ tag`, bound to the subject and key id (a wrapped key copied onto
        another subject's row does not unwrap)."""
        nonce = os.urandom(NONCE_BYTES)
        ad = associated_data("bilet-data-key-v1", subject, data_key.key_id)
        return nonce + self._aead.encrypt(nonce, data_key.key, ad)

    def unwrap(self, subject: str, key_id: str, wrapped: bytes) -> DataKey:
        ad = associated_data("bilet-data-key-v1", subject, key_id)
        try:
            key = self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], ad)
        except InvalidTag:
            raise MasterKeyError(
                f"the stored key of subject {subject!r} does not unwrap: the key store was "
                "written with another master key, or the row was altered"
            ) from None
        return DataKey(key_id=key_id, key=key)

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"


def load_master_key(settings_value: str | None, var_dir: Path, development: bool) -> MasterKey:
    """The master key from configuration (`BVB_MASTER_KEY`: 32 bytes, base64).

    Outside development a missing key is refused: a key invented at start-up would make every
    previously stored data key unreadable. In development, `var_dir/master.key` (mode 0600) is
    read, or created on first use, so `make run` needs no set-up.
    """
    if settings_value is not None and settings_value.strip():
        return MasterKey.from_base64(settings_value)
    if not development:
        raise MasterKeyError(
            f"{MASTER_KEY_VARIABLE} is not set: outside development the master key must come "
            "from configuration (32 random bytes, base64)"
        )
    return _development_master_key(var_dir / MASTER_KEY_FILE)


def _read_master_key_file(path: Path) -> MasterKey:
    if path.stat().st_mode & 0o077:
        raise MasterKeyError(f"{path} is readable by others: make it owner-only (chmod 600)")
    return MasterKey.from_base64(path.read_text(encoding="ascii"))


def _development_master_key(path: Path) -> MasterKey:
    try:
        return _read_master_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = secrets.token_bytes(KEY_BYTES)
    # Written whole to a private temporary file, then linked into place: two processes starting at
    # once never read a half-written key, and the one that links second adopts the winner's key.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(base64.b64encode(raw).decode("ascii") + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_master_key_file(path)
    finally:
        temporary.unlink(missing_ok=True)
    _log.warning("created a development master key at %s (never use it in production)", path)
    return MasterKey(raw)


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
        """
        ...

    async def close(self) -> None: ...


class InMemoryKeyStore:
    """A key store in a dict, for unit tests and throw-away runs: the keys die with the process."""

    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock
        self._keys: dict[str, DataKey] = {}
        self._erased: dict[str, datetime] = {}
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
        if subject in self._erased:
            return False
        self._erased[subject] = self._clock()
        return True

    async def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> "InMemoryKeyStore":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS data_keys (
    subject    TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL UNIQUE,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erasures (
    subject   TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL
);
"""


# Bulk lookups bind at most this many subjects per statement (SQLite's limit is 32766).
_IN_CHUNK: Final = 500
_KEYS_OF: Final = "SELECT subject, key_id, wrapped FROM data_keys WHERE subject IN ({marks})"
_ERASURES_OF: Final = "SELECT subject, erased_at FROM erasures WHERE subject IN ({marks})"


def _select_in(connection: sqlite3.Connection, query: str, subjects: list[str]) -> list[Any]:
    found: list[Any] = []
    for start in range(0, len(subjects), _IN_CHUNK):
        part = subjects[start : start + _IN_CHUNK]
        # Only placeholders are formatted in; the subjects are bound parameters.
        statement = query.format(marks=",".join("?" * len(part)))
        found += connection.execute(statement, part).fetchall()
    return found


@contextmanager
def _write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so the erasure check and the insert of
    # get_or_create are one step even against other processes sharing the file.
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


class SqliteKeyStore:
    """Data keys in their own SQLite file (e.g. `var/keys.sqlite3`), never beside the events.

    Keys are stored wrapped by the master key. Deleted rows are overwritten (`secure_delete`) and
    the write-ahead log is truncated after every erasure, so an erased key is gone from the files,
    not merely unreferenced. All SQLite work runs on one dedicated thread, off the event loop.
    """

    def __init__(
        self,
        path: Path,
        master_key: MasterKey,
        *,
        clock: Callable[[], datetime] = _utc_now,
        busy_timeout: float = 5.0,
    ) -> None:
        self._path = Path(path)
        self._master_key = master_key
        self._clock = clock
        self._busy_timeout = busy_timeout
        # One thread owns the connection: sqlite3 objects never cross threads, and calls of this
        # process are serialised without a lock of our own.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bilet-keystore")
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    async def __aenter__(self) -> "SqliteKeyStore":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise KeyStoreError("the key store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._on_thread, work)

    def _on_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._connection is None:
            self._connection = self._open()
        return work(self._connection)

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Created owner-only before SQLite opens it; SQLite gives -wal and -shm the same mode.
        os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=self._busy_timeout)
        try:
            connection.execute("PRAGMA secure_delete = ON")
            (secure_delete,) = connection.execute("PRAGMA secure_delete").fetchone()
            (journal_mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
            if secure_delete != 1 or journal_mode != "wal":
                raise KeyStoreError(
                    f"{self._path}: SQLite refused secure_delete or WAL, erasure would leave keys"
                )
            # A lost commit would be a lost key, and a lost key is lost data: sync every commit.
            connection.execute("PRAGMA synchronous = FULL")
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    async def get_or_create(self, subject: str) -> DataKey:
        _check_subject(subject)

        def work(connection: sqlite3.Connection) -> DataKey:
            # The common case reads without the write lock; a key and an erasure record of one
            # subject never coexist, because erase removes the one as it writes the other.
            row = connection.execute(
                "SELECT key_id, wrapped FROM data_keys WHERE subject = ?", (subject,)
            ).fetchone()
            if row is None:
                fresh = DataKey.generate()
                with _write_transaction(connection):
                    erased = connection.execute(
                        "SELECT erased_at FROM erasures WHERE subject = ?", (subject,)
                    ).fetchone()
                    if erased is not None:
                        raise SubjectErased(subject, datetime.fromisoformat(erased[0]))
                    connection.execute(
                        "INSERT OR IGNORE INTO data_keys (subject, key_id, wrapped, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        (
                            subject,
                            fresh.key_id,
                            self._master_key.wrap(subject, fresh),
                            self._clock().isoformat(),
                        ),
                    )
                    row = connection.execute(
                        "SELECT key_id, wrapped FROM data_keys WHERE subject = ?", (subject,)
                    ).fetchone()
            key_id, wrapped = row
            return self._master_key.unwrap(subject, key_id, wrapped)

        return await self._run(work)

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        wanted = list(dict.fromkeys(subjects))
        for subject in wanted:
            _check_subject(subject)

        def work(connection: sqlite3.Connection) -> dict[str, DataKey]:
            stored = {row[0]: row for row in _select_in(connection, _KEYS_OF, wanted)}
            missing = [subject for subject in wanted if subject not in stored]
            if missing:
                # One transaction (one sync) for all new keys, with the same erasure check as
                # get_or_create; a key made meanwhile by another process wins (INSERT OR IGNORE).
                with _write_transaction(connection):
                    if erased := _select_in(connection, _ERASURES_OF, missing):
                        subject, erased_at = erased[0]
                        raise SubjectErased(subject, datetime.fromisoformat(erased_at))
                    now = self._clock().isoformat()
                    fresh = {subject: DataKey.generate() for subject in missing}
                    connection.executemany(
                        "INSERT OR IGNORE INTO data_keys (subject, key_id, wrapped, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        [
                            (subject, key.key_id, self._master_key.wrap(subject, key), now)
                            for subject, key in fresh.items()
                        ],
                    )
                    stored.update(
                        {row[0]: row for row in _select_in(connection, _KEYS_OF, missing)}
                    )
            return {
                subject: self._master_key.unwrap(subject, stored[subject][1], stored[subject][2])
                for subject in wanted
            }

        return await self._run(work)

    async def get(self, subject: str) -> DataKey | None:
        _check_subject(subject)

        def work(connection: sqlite3.Connection) -> DataKey | None:
            row = connection.execute(
                "SELECT key_id, wrapped FROM data_keys WHERE subject = ?", (subject,)
            ).fetchone()
            return None if row is None else self._master_key.unwrap(subject, row[0], row[1])

        return await self._run(work)

    async def erase(self, subject: str) -> bool:
        _check_subject(subject)

        def work(connection: sqlite3.Connection) -> bool:
            with _write_transaction(connection):
                recorded = connection.execute(
                    "INSERT OR IGNORE INTO erasures (subject, erased_at) VALUES (?, ?)",
                    (subject, self._clock().isoformat()),
                ).rowcount
                connection.execute("DELETE FROM data_keys WHERE subject = ?", (subject,))
            self._truncate_log(connection)
            return recorded == 1

        return await self._run(work)

    def _truncate_log(self, connection: sqlite3.Connection) -> None:
        # The deleted row is zeroed in the new page image, but older images of the page (holding
        # the wrapped key) sit in the write-ahead log until it is checkpointed and truncated.
        (busy, _, _) = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            # Another connection kept reading past the busy timeout. The erasure itself is
            # committed; the old page images go at the next erase or close.
            _log.warning(
                "%s: the write-ahead log could not be truncated yet (a reader is active); "
                "erased keys leave the files at the next checkpoint",
                self._path,
            )

    async def close(self) -> None:
        """Truncate the log and close. Work already queued runs first; new work is refused."""
        if self._closed:
            return
        self._closed = True

        def work() -> None:
            if self._connection is not None:
                try:
                    self._truncate_log(self._connection)
                finally:
                    self._connection.close()
                    self._connection = None

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._executor.shutdown(wait=False)
