"""The master key: it wraps data keys before a key store writes them down, and comes from
configuration (`BVB_MASTER_KEY`), or in development from a private file under `var/`.
"""

import base64
import binascii
import logging
import os
import secrets
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bilet.crypto.keystore import KEY_BYTES, NONCE_BYTES, DataKey, KeyStoreError, associated_data

MASTER_KEY_VARIABLE: Final = "BVB_MASTER_KEY"
MASTER_KEY_FILE: Final = "master.key"

_log = logging.getLogger(__name__)


class MasterKeyError(KeyStoreError):
    """The master key is missing, malformed, exposed, or not the one the stored keys were wrapped
    with."""


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
