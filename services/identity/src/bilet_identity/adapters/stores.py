"""Opening what the identity service keeps its data in, as the settings say.

- Events: SQLite under `var/` (embedded, the default) or PostgreSQL schema `bvb_identity` when
  `BVB_EVENT_STORE=postgres` and `BVB_DATABASE_URL` is set.
- Read model: the checkpoints of the feed of consent's erasures (`bilet.stores.open_read_model`).
- Data keys: the suite's one key store (`bilet.stores.open_key_store`).
- The pseudonym key of the keyed hashes: `BVB_IDENTITY_PSEUDONYM_KEY`, or in development a file
  made once under `var/`.
"""

import base64
import binascii
import logging
import os
import secrets
from pathlib import Path

from bilet import stores
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import ReadModel
from bilet.settings import Environment
from bilet_identity.application.pseudonyms import KEY_BYTES
from bilet_identity.settings import SERVICE_NAME, IdentitySettings

_log = logging.getLogger(__name__)


class PseudonymKeyError(Exception):
    """The pseudonym key is missing (outside development) or not 32 bytes of base64."""


async def open_event_store(settings: IdentitySettings) -> EventStore:
    return await stores.open_event_store(
        settings, SERVICE_NAME, schema=settings.identity_store_schema
    )


async def open_read_model(settings: IdentitySettings) -> ReadModel:
    """The service's read model: the checkpoints of its feed of consent's erasures."""
    return await stores.open_read_model(settings, SERVICE_NAME)


async def open_key_store(settings: IdentitySettings) -> KeyStore:
    """The suite's one key store: erasing a participant (the consent service) must reach the
    keys identity sealed their fields with."""
    return await stores.open_key_store(settings)


def _decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PseudonymKeyError("the identity pseudonym key is not base64") from None
    if len(raw) != KEY_BYTES:
        raise PseudonymKeyError(f"the identity pseudonym key is {KEY_BYTES} bytes")
    return raw


def load_pseudonym_key(settings: IdentitySettings) -> bytes:
    if settings.identity_pseudonym_key is not None:
        return _decode(settings.identity_pseudonym_key.get_secret_value())
    if settings.environment is not Environment.DEVELOPMENT:
        raise PseudonymKeyError(
            "BVB_IDENTITY_PSEUDONYM_KEY is not set: outside development it must come from "
            "configuration (32 random bytes, base64), the same for every replica"
        )
    return _development_key(settings.pseudonym_key_path)


def _development_key(path: Path) -> bytes:
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise PseudonymKeyError(f"{path} is readable by others: chmod 600")
        return _decode(path.read_text(encoding="ascii"))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii") + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)  # the first of two concurrent starts wins
        except FileExistsError:
            pass
        else:
            _log.warning("created a development pseudonym key at %s", path)
    finally:
        temporary.unlink(missing_ok=True)
    return _decode(path.read_text(encoding="ascii"))
