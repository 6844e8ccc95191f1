"""The pseudonym key (the secret of identity's keyed hashes of a СНИЛС and of a name with a birth
date), kept by the suite's key store rather than in a file beside the store.

The key store holds a data key under a reserved subject (`bilet.identity.pseudonym-key/<random>`,
never a participant's id, so no participant's erasure reaches it; its master key may be a KMS in
production); identity's store holds only the pseudonym key encrypted under it
(`PseudonymKeyKept`, stream `secret-pseudonym-key`, never relayed nor purged). Made on first
use, the same for every replica (the first append wins, the others read it). A key configured
the old way (`BVB_IDENTITY_PSEUDONYM_KEY`, or the development file `var/identity-pseudonym.key`)
is taken over once so that existing reservations keep matching; the development file is then
deleted, and a configured key that differs from the kept one stops the service. See
docs/adr/0016.
"""

import base64
import binascii
import logging
import secrets
from typing import Final

from bilet.contracts import EventMetadata
from bilet.crypto import FieldCipher, KeyStore
from bilet.eventstore import NO_STREAM, EventStore, WrongExpectedVersion
from bilet_identity.application.eventlog import EVENT_LOG, decode_event
from bilet_identity.application.pseudonyms import KEY_BYTES
from bilet_identity.domain.internal import SECRET_CATEGORY, PseudonymKeyKept
from bilet_identity.settings import IdentitySettings

_log = logging.getLogger(__name__)

# The key store's subjects of keys that wrap a pseudonym key: never a participant id (those are
# UUIDs), so an erasure never names one. Each store's has a random suffix, kept in the event:
# stores that share one key store (environments, tests) never share a subject.
RESERVED_SUBJECT: Final = "bilet.identity.pseudonym-key"
NAME: Final = "pseudonym-key"
STREAM: Final = f"{SECRET_CATEGORY}-{NAME}"
_FIELD: Final = "key"


class PseudonymKeyError(Exception):
    """The pseudonym key is not 32 bytes of base64, or differs from the one kept."""


def decode_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PseudonymKeyError("the identity pseudonym key is not base64") from None
    if len(raw) != KEY_BYTES:
        raise PseudonymKeyError(f"the identity pseudonym key is {KEY_BYTES} bytes")
    return raw


def _configured(settings: IdentitySettings) -> bytes | None:
    """A key set the old way: the setting, else the development file."""
    if settings.identity_pseudonym_key is not None:
        return decode_key(settings.identity_pseudonym_key.get_secret_value())
    path = settings.pseudonym_key_path
    if not path.exists():
        return None
    if path.stat().st_mode & 0o077:
        raise PseudonymKeyError(f"{path} is readable by others: chmod 600")
    return decode_key(path.read_text(encoding="ascii"))


async def _kept(store: EventStore, cipher: FieldCipher) -> bytes | None:
    recorded = await store.read_stream(STREAM, limit=1)
    if not recorded:
        return None
    event = decode_event(recorded[0], STREAM)
    assert isinstance(event, PseudonymKeyKept)
    opened = await cipher.decrypt(event.key_subject, {_FIELD: event.sealed_key})
    text = opened[_FIELD]
    if not isinstance(text, str):
        raise PseudonymKeyError("the key store no longer holds the pseudonym key's wrapping key")
    return decode_key(text)


async def load_pseudonym_key(
    settings: IdentitySettings, store: EventStore, keystore: KeyStore
) -> bytes:
    """The pseudonym key: kept, else taken over from the old setting or file, else made."""
    cipher = FieldCipher(keystore)
    configured = _configured(settings)
    kept = await _kept(store, cipher)
    if kept is None:
        secret = configured if configured is not None else secrets.token_bytes(KEY_BYTES)
        subject = f"{RESERVED_SUBJECT}/{secrets.token_hex(16)}"
        sealed = await cipher.encrypt(
            subject, {_FIELD: base64.b64encode(secret).decode("ascii")}, [_FIELD]
        )
        event = PseudonymKeyKept(
            name=NAME,
            key_subject=subject,
            sealed_key=sealed[_FIELD],  # type: ignore[arg-type]
        )
        try:
            await store.append(
                STREAM, [EVENT_LOG.encode(event, EventMetadata(actor="identity"))], NO_STREAM
            )
            kept = secret
            _log.warning(
                "the identity pseudonym key is kept by the key store now (%s)",
                "taken over" if configured is not None else "made",
            )
        except WrongExpectedVersion:  # another replica kept its key first: that one it is
            await keystore.erase(subject)  # this attempt's wrapping key, never used
            kept = await _kept(store, cipher)
            assert kept is not None
    if configured is not None and configured != kept:
        raise PseudonymKeyError(
            "the configured identity pseudonym key differs from the one the key store keeps: "
            "remove BVB_IDENTITY_PSEUDONYM_KEY (or the file under var/)"
        )
    # Taken over: the file beside the store goes (a configured setting is the operator's).
    settings.pseudonym_key_path.unlink(missing_ok=True)
    return kept
