"""Crypto-shredding of personal data: per-subject data keys and field encryption of events.

Personal fields are encrypted with their subject's key (`FieldCipher`); keys live in a `KeyStore`,
apart from the events. Erasing a subject destroys its key, so those fields read as `ERASED` in every
copy of the history while the rest of it stays replayable, and every cipher that cached the key
forgets it within a second (`KeyStore.erasures_since`). See docs/adr/0004-crypto-shredding.md.

Modules: `keystore` (the port, its errors, `InMemoryKeyStore`, and `NoKeyStore` for processes
that hold no keys), `master` (the master key that wraps
stored keys), `sqlite` (`SqliteKeyStore`), `fields` (`FieldCipher`), `ahead` (`SubjectsAhead`:
new subjects' keys created ahead, in batches, off the command path). Adapters: `InMemoryKeyStore`,
`SqliteKeyStore` (both here) and `bilet.crypto.postgres.PostgresKeyStore` (imported on its own, so
that processes without PostgreSQL never load asyncpg). The suite opens its one key store with
`bilet.stores.open_key_store(settings)`.
"""

from bilet.crypto.ahead import SubjectsAhead
from bilet.crypto.fields import (
    ERASED,
    ErasedMarker,
    FieldCipher,
    FieldCipherError,
    KeysFetched,
    is_erased,
)
from bilet.crypto.keystore import (
    ERASURES_IN_PROCESS,
    DataKey,
    ErasuresSince,
    InMemoryKeyStore,
    KeysNotHeld,
    KeyStore,
    KeyStoreError,
    NoKeyStore,
    SubjectErased,
)
from bilet.crypto.master import MASTER_KEY_VARIABLE, MasterKey, MasterKeyError, load_master_key
from bilet.crypto.sqlite import SqliteKeyStore

__all__ = [
    "ERASED",
    "ERASURES_IN_PROCESS",
    "MASTER_KEY_VARIABLE",
    "DataKey",
    "ErasedMarker",
    "ErasuresSince",
    "FieldCipher",
    "FieldCipherError",
    "InMemoryKeyStore",
    "KeyStore",
    "KeyStoreError",
    "KeysFetched",
    "KeysNotHeld",
    "MasterKey",
    "MasterKeyError",
    "NoKeyStore",
    "SqliteKeyStore",
    "SubjectErased",
    "SubjectsAhead",
    "is_erased",
    "load_master_key",
]
