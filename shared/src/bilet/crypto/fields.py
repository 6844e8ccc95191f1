"""Encrypts chosen fields of an event's JSON data with the subject's key, and reads them back.

An encrypted field holds an envelope `{"$enc": "aesgcm-v1", "kid", "n", "ct"}`; every other field
stays as it was, so events remain routable, foldable and replayable without any key. Once the
subject is erased, each envelope reads back as the `ERASED` marker (`{"$erased": true}`).
"""

import asyncio
import binascii
import functools
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bilet.crypto.keystore import (
    ERASURES_IN_PROCESS,
    NONCE_BYTES,
    DataKey,
    KeyStore,
    associated_data,
)

ENVELOPE_VERSION: Final = "aesgcm-v1"
ENVELOPE_TAG: Final = "$enc"
ERASED_TAG: Final = "$erased"

# A record to seal: the subject whose key seals it, its JSON data, the fields to seal.
ToSeal = tuple[str, Mapping[str, object], Collection[str]]
# A record to open: the subject whose key sealed it, its JSON data (envelopes where sealed).
ToOpen = tuple[str, Mapping[str, object]]

# The plaintext of a sealed value: its compact JSON, as `json.dumps(..., ensure_ascii=False,
# separators=(",", ":"), allow_nan=False)` writes it; one encoder, not one built per value.
_PLAINTEXT_JSON: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode
# Associated data made once per subject, field and key: a sheet's answers are one field of one
# subject sealed and opened dozens of times in a row. Bounded, so a long-lived service that
# sees many subjects keeps the most recent only.
_AD_CACHED: Final = 4096


class ErasedMarker(dict[str, bool]):
    """What an encrypted field reads as once its key is destroyed: `{"$erased": true}`.

    A dict, so `json.dumps` and pydantic serialise it as it is and a read model can store it; and
    read-only, because it is one shared object (`ERASED`). Test with `is_erased`, which also
    recognises the marker after a JSON round trip.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__({ERASED_TAG: True})

    def _refuse(self, *_: object, **__: object) -> NoReturn:
        raise TypeError("the ERASED marker is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __copy__(self) -> "ErasedMarker":
        return self

    def __deepcopy__(self, _memo: object) -> "ErasedMarker":
        return self

    def __reduce__(self) -> str:
        return "ERASED"  # unpickles as this module's singleton

    def __repr__(self) -> str:
        return "ERASED"


ERASED: Final = ErasedMarker()


def is_erased(value: object) -> bool:
    """Whether a field value is the erased marker (the object itself or its JSON form)."""
    return value is ERASED or (
        isinstance(value, Mapping) and len(value) == 1 and value.get(ERASED_TAG) is True
    )


class FieldCipherError(Exception):
    """An envelope is malformed, of an unknown version, or does not authenticate (tampering, or
    a ciphertext moved to another field or subject). Never a sign of erasure: that reads as
    `ERASED`."""


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: str
    aead: AESGCM
    expires: float


@dataclass(frozen=True, slots=True)
class KeysFetched:
    """Keys `FieldCipher.fetch_keys` fetched (created where new), with the cipher's erasure
    generation when it fetched them: `adopt` caches them only if nothing was forgotten since."""

    keys: Mapping[str, DataKey]
    generation: int

    def only(self, subjects: Collection[str]) -> "KeysFetched":
        """The keys of `subjects` alone, fetched when these were."""
        return KeysFetched({s: self.keys[s] for s in subjects}, self.generation)


@functools.lru_cache(maxsize=_AD_CACHED)
def _field_ad(subject: str, field: str, key_id: str) -> bytes:
    return associated_data(ENVELOPE_VERSION, subject, field, key_id)


def _b64(raw: bytes) -> str:
    # What `base64.b64encode(raw).decode("ascii")` gives, without its Python-level wrapper.
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def _unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise FieldCipherError(f"field {field!r}: malformed envelope")
    try:
        # `base64.b64decode(text, validate=True)` is exactly this call (strict: no character
        # outside the alphabet, padding checked); a non-ASCII str raises ValueError.
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise FieldCipherError(f"field {field!r}: malformed envelope") from None


# JSON values that are never a mapping, told apart without `Mapping`'s abstract-class check.
_NOT_MAPPINGS: Final = (str, int, float, list, type(None))


def _is_envelope(value: object) -> bool:
    if isinstance(value, _NOT_MAPPINGS):
        return False
    return isinstance(value, Mapping) and ENVELOPE_TAG in value


def _names_to_seal(data: Mapping[str, object], fields: Collection[str]) -> list[str]:
    """The fields of `data` to seal, each once, after checking they can be."""
    if isinstance(fields, str):
        raise TypeError("fields is a collection of field names, not one name")
    names = list(dict.fromkeys(fields))
    if missing := [name for name in names if name not in data]:
        raise ValueError(f"fields not in the data: {', '.join(sorted(missing))}")
    if already := [name for name in names if _is_envelope(data[name])]:
        raise ValueError(f"fields already encrypted: {', '.join(sorted(already))}")
    return names


def _plaintext(name: str, value: object) -> bytes:
    try:
        return _PLAINTEXT_JSON(value).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"field {name!r} is not a JSON value: {error}") from None


class _Envelope(NamedTuple):
    """A sealed field's envelope, read and checked for its shape (not yet authenticated). A
    tuple: a sheet's every answer is opened through one (docs/adr/0111)."""

    name: str
    key_id: str
    nonce: bytes
    ciphertext: bytes


def _envelopes(data: Mapping[str, object]) -> list[_Envelope]:
    """The envelopes among `data`'s fields, in order; a malformed one fails the whole read."""
    out: list[_Envelope] = []
    for name, value in data.items():
        if not _is_envelope(value):
            continue
        assert isinstance(value, Mapping)  # as `_is_envelope` found
        if value[ENVELOPE_TAG] != ENVELOPE_VERSION:
            raise FieldCipherError(f"field {name!r}: unknown envelope {value[ENVELOPE_TAG]!r}")
        key_id = value.get("kid")
        nonce = _unb64(value.get("n"), name)
        ciphertext = _unb64(value.get("ct"), name)
        if not isinstance(key_id, str) or len(nonce) != NONCE_BYTES:
            raise FieldCipherError(f"field {name!r}: malformed envelope")
        out.append(_Envelope(name, key_id, nonce, ciphertext))
    return out


def _opened(subject: str, envelope: _Envelope, key: _Key) -> object:
    """The value an envelope seals, opened with the subject's current key."""
    if envelope.key_id != key.key_id:
        raise FieldCipherError(
            f"field {envelope.name!r} was encrypted with key {envelope.key_id}, "
            f"not with the key {key.key_id} of subject {subject!r}"
        )
    try:
        plaintext = key.aead.decrypt(
            envelope.nonce,
            envelope.ciphertext,
            _field_ad(subject, envelope.name, envelope.key_id),
        )
    except InvalidTag:
        raise FieldCipherError(
            f"field {envelope.name!r} does not authenticate for subject {subject!r}"
        ) from None
    # The plaintext is the UTF-8 `_PLAINTEXT_JSON` wrote (what `json.loads(bytes)` would detect).
    return json.loads(plaintext.decode("utf-8"))


class FieldCipher:
    """Encrypts and decrypts chosen top-level fields of a JSON object for one subject.

    Keys are cached per subject (LRU, `cache_size` entries, `cache_ttl` seconds), and no cached
    key outlives its subject's erasure by more than `erasure_check` seconds, wherever the erasure
    was made: before it uses its cache, the cipher asks the key store for the erasures recorded
    since it last asked (`KeyStore.erasures_since`, one indexed query) when `erasure_check`
    seconds have passed, and at once when this process has erased anything
    (`ERASURES_IN_PROCESS`: the services of an embedded run share the key store). If the key
    store cannot answer, the call fails rather than trust a key that may be erased.

    Error messages name fields and key ids, never values: they end up in logs.
    """

    def __init__(
        self,
        keystore: KeyStore,
        *,
        cache_size: int = 1024,
        cache_ttl: float = 60.0,
        erasure_check: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_size < 0 or cache_ttl < 0 or erasure_check < 0:
            raise ValueError("cache_size, cache_ttl and erasure_check are not negative")
        self._keystore = keystore
        self._cache_size = cache_size
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._cache: OrderedDict[str, _Key] = OrderedDict()
        # Bumped by every erase/forget: a key fetched before it may be used by the call that
        # fetched it, but is not cached, so an erased key never outlives its erasure here.
        self._generation = 0
        self._erasure_check = erasure_check
        self._erasure_position: int | None = None  # where in the store's erasure log we are
        self._erasures_checked_at = -math.inf
        self._erasures_in_process_seen = -1
        self._erasure_check_lock = asyncio.Lock()
        # Told of every key forgotten (an erasure made here or learned from the store): caches of
        # what was sealed with it drop their copies (`when_forgotten`).
        self._forgotten_listeners: dict[Callable[[str], None], None] = {}

    async def encrypt(
        self, subject: str, data: Mapping[str, object], fields: Collection[str]
    ) -> dict[str, object]:
        """A copy of `data` with each of `fields` (any JSON value) replaced by an envelope.

        A named field missing from `data` is an error rather than skipped: a misspelt name would
        otherwise leave personal data in the clear. Raises `SubjectErased` for an erased subject.
        """
        return (await self.encrypt_many([(subject, data, fields)]))[0]

    async def encrypt_many(self, records: Sequence[ToSeal]) -> list[dict[str, object]]:
        """What `encrypt` gives for each `(subject, data, fields)` record, in order, in one call:
        one erasure check for them all, each subject's key looked up once (the keys not cached
        fetched in one key-store call, created where new), the associated data of a subject's
        field made once. Every envelope is the one `encrypt` makes (a fresh nonce each, bound to
        its subject, field and key). Every record is checked before any key is fetched: one
        that `encrypt` would refuse fails the call, and no key is made."""
        plaintexts = [
            [(name, _plaintext(name, data[name])) for name in _names_to_seal(data, fields)]
            for _, data, fields in records
        ]
        out = [dict(data) for _, data, _ in records]
        subjects = [
            subject for (subject, _, _), sealed in zip(records, plaintexts, strict=True) if sealed
        ]
        if not subjects:
            return out
        keys = await self._current_keys(subjects)
        # A fresh nonce per value, as before, all drawn in one `os.urandom` call.
        nonces = os.urandom(NONCE_BYTES * sum(map(len, plaintexts)))
        at = 0
        for (subject, _, _), sealed, copy in zip(records, plaintexts, out, strict=True):
            if not sealed:
                continue
            key = keys[subject]
            for name, plaintext in sealed:
                nonce = nonces[at : at + NONCE_BYTES]
                at += NONCE_BYTES
                ciphertext = key.aead.encrypt(
                    nonce, plaintext, _field_ad(subject, name, key.key_id)
                )
                copy[name] = {
                    ENVELOPE_TAG: ENVELOPE_VERSION,
                    "kid": key.key_id,
                    "n": _b64(nonce),
                    "ct": _b64(ciphertext),
                }
        return out

    async def decrypt(self, subject: str, data: Mapping[str, object]) -> dict[str, object]:
        """A copy of `data` with each envelope replaced by its value, or by `ERASED` when the
        subject's key is gone. Fields that are not envelopes are returned untouched."""
        return (await self.decrypt_many([(subject, data)]))[0]

    async def decrypt_many(self, records: Sequence[ToOpen]) -> list[dict[str, object]]:
        """What `decrypt` gives for each `(subject, data)` record, in order, in one call: one
        erasure check for them all and each subject's key looked up once. Every envelope is read
        before any key is: a malformed one fails the call, and one that does not authenticate
        fails it too (nothing is returned half opened)."""
        envelopes = [_envelopes(data) for _, data in records]
        out = [dict(data) for _, data in records]
        keys: dict[str, _Key | None] = {}
        if any(envelopes):
            await self._catch_up_on_erasures()
        for (subject, _), found, copy in zip(records, envelopes, out, strict=True):
            if not found:
                continue
            if subject not in keys:
                keys[subject] = await self._existing_key(subject)
            key = keys[subject]
            for envelope in found:
                copy[envelope.name] = ERASED if key is None else _opened(subject, envelope, key)
        return out

    async def prepare(self, subjects: Collection[str]) -> None:
        """Fetch, creating where needed, the keys of many subjects in one key-store call and
        cache them, so encrypting for each of them next needs no round trip (bulk imports: one
        transaction for thousands of new keys instead of one each). Raises `SubjectErased`."""
        await self._current_keys(list(subjects))

    async def fetch_keys(self, subjects: Collection[str]) -> KeysFetched:
        """Fetch, creating where needed, the keys of many subjects in one key-store call without
        caching them yet: keys made ahead for subjects that come later (`bilet.crypto.ahead`),
        cached by `adopt` when one is used. Raises `SubjectErased`."""
        await self._catch_up_on_erasures()
        generation = self._generation
        return KeysFetched(await self._keystore.get_or_create_many(subjects), generation)

    def adopt(self, fetched: KeysFetched) -> None:
        """Cache keys `fetch_keys` fetched earlier, unless an erasure was learned since they were
        fetched (as any key fetched before an erasure: then sealing asks the key store again,
        which refuses an erased subject)."""
        for subject, data_key in fetched.keys.items():
            self._remember(subject, data_key, fetched.generation)

    async def erase(self, subject: str) -> bool:
        """Erase the subject in the key store and forget its cached key (see `KeyStore.erase`)."""
        self.forget(subject)
        try:
            return await self._keystore.erase(subject)
        finally:
            self.forget(subject)

    def forget(self, subject: str) -> None:
        """Drop the subject's cached key (erasures are found without it: see the class)."""
        self._generation += 1
        self._cache.pop(subject, None)
        for listener in self._forgotten_listeners:
            listener(subject)

    def when_forgotten(self, listener: Callable[[str], None]) -> None:
        """Call `listener(subject)` whenever a subject's key is forgotten: erased here, or an
        erasure elsewhere learned (within `erasure_check` seconds of this cipher's next use).
        A listener added twice is called once."""
        self._forgotten_listeners[listener] = None

    async def has_key(self, subject: str) -> bool:
        """Whether `decrypt` would find the subject's key now (False once it is erased, or before
        it exists), learning erasures made elsewhere as `decrypt` does: for caches of opened
        values, which must not outlive the key they were opened with."""
        await self._catch_up_on_erasures()
        return await self._existing_key(subject) is not None

    def _erasures_due(self) -> bool:
        return ERASURES_IN_PROCESS.count != self._erasures_in_process_seen or (
            self._clock() - self._erasures_checked_at >= self._erasure_check
        )

    async def _catch_up_on_erasures(self) -> None:
        """Forget the keys of subjects erased since the last check, if a check is due. The first
        check only learns where the erasure log ends: nothing is cached before it."""
        if not (self._cache_size and self._cache_ttl) or not self._erasures_due():
            return
        # Calls wait for a check in flight rather than skip it: a key fetched meanwhile could
        # belong to a subject erased just before.
        async with self._erasure_check_lock:
            if not self._erasures_due():
                return
            seen = ERASURES_IN_PROCESS.count
            checked_at = self._clock()
            news = await self._keystore.erasures_since(self._erasure_position)
            for subject in news.subjects:
                self.forget(subject)
            self._erasure_position = news.position
            self._erasures_checked_at = checked_at
            self._erasures_in_process_seen = seen

    async def _current_keys(self, subjects: Sequence[str]) -> dict[str, _Key]:
        """The key of each subject (created where new), after catching up on erasures: from the
        cache, else one key-store call for one subject, or for all those not cached."""
        await self._catch_up_on_erasures()
        keys: dict[str, _Key] = {}
        missing: list[str] = []
        for subject in dict.fromkeys(subjects):
            if (cached := self._cached(subject)) is not None:
                keys[subject] = cached
            else:
                missing.append(subject)
        generation = self._generation
        if len(missing) == 1:
            data_keys = {missing[0]: await self._keystore.get_or_create(missing[0])}
        elif missing:
            data_keys = await self._keystore.get_or_create_many(missing)
        else:
            return keys
        for subject in missing:
            keys[subject] = self._remember(subject, data_keys[subject], generation)
        return keys

    async def _existing_key(self, subject: str) -> _Key | None:
        if (cached := self._cached(subject)) is not None:
            return cached
        generation = self._generation
        data_key = await self._keystore.get(subject)
        if data_key is None:
            # Nothing is cached for "no key": it may mean "not created yet", which does not last.
            self._cache.pop(subject, None)
            return None
        return self._remember(subject, data_key, generation)

    def _cached(self, subject: str) -> _Key | None:
        cached = self._cache.get(subject)
        if cached is None:
            return None
        if cached.expires <= self._clock():
            del self._cache[subject]
            return None
        self._cache.move_to_end(subject)
        return cached

    def _remember(self, subject: str, data_key: DataKey, generation: int) -> _Key:
        key = _Key(data_key.key_id, AESGCM(data_key.key), self._clock() + self._cache_ttl)
        if generation == self._generation and self._cache_size and self._cache_ttl:
            self._cache[subject] = key
            self._cache.move_to_end(subject)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return key
