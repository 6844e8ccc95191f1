"""Crypto-shredding of personal data: per-subject data keys and field encryption of events.

Personal fields are encrypted with their subject's key (`FieldCipher`); keys live in a `KeyStore`,
apart from the events. Erasing a subject destroys its key, so those fields read as `ERASED` in every
copy of the history while the rest of it stays replayable. See docs/adr/0004-crypto-shredding.md.

Adapters: `InMemoryKeyStore`, `SqliteKeyStore` (here) and `bilet.crypto.postgres.PostgresKeyStore`
(imported on its own, so that processes without PostgreSQL never load asyncpg). The suite opens its
one key store with `bilet.stores.open_key_store(settings)`.
"""

from bilet.crypto.fields import (
    ERASED,
    ErasedMarker,
    FieldCipher,
    FieldCipherError,
    is_erased,
)
from bilet.crypto.keystore import (
    MASTER_KEY_VARIABLE,
    DataKey,
    InMemoryKeyStore,
    KeyStore,
    KeyStoreError,
    MasterKey,
    MasterKeyError,
    SqliteKeyStore,
    SubjectErased,
    load_master_key,
)

__all__ = [
    "ERASED",
    "MASTER_KEY_VARIABLE",
    "DataKey",
    "ErasedMarker",
    "FieldCipher",
    "FieldCipherError",
    "InMemoryKeyStore",
    "KeyStore",
    "KeyStoreError",
    "MasterKey",
    "MasterKeyError",
    "SqliteKeyStore",
    "SubjectErased",
    "is_erased",
    "load_master_key",
]
