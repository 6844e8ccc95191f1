"""Where bearer tokens' signing keys come from: a JSON Web Key Set in a file or at a URL.

Both rotate keys without a restart. A URL (an identity provider's) is fetched with an async
client and a short deadline, cached, and fetched again when its lifespan ends or a token names a
key it lacks, at most once per cooldown: a request never waits on the network for long, and
tokens with made-up key ids cannot make the service flood the identity provider.
"""

import asyncio
import json
import logging
import os
import ssl
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Final

import httpx
import jwt

from bilet.http.problems import Problem

log = logging.getLogger(__name__)

JWKS_TIMEOUT_SECONDS: Final = 3.0
JWKS_LIFESPAN_SECONDS: Final = 300.0
JWKS_COOLDOWN_SECONDS: Final = 10.0


def keys_unavailable() -> Problem:
    """Keys cannot be had now: not the caller's fault, so a 503 they may retry, never a 401."""
    return Problem(
        503,
        "keys_unavailable",
        "Service Unavailable",
        "The token's signing keys cannot be fetched now; try again shortly.",
        headers={"Retry-After": str(int(JWKS_COOLDOWN_SECONDS))},
    )


class KeySource(ABC):
    """Where signing keys come from; `key_for(kid)` answers with a key or None from what the
    source holds, without waiting on anything. A source answers with the same key object for a
    kid until its key set changes (a new object then): a verified token is trusted again only
    while its key is the very object it was verified with."""

    @abstractmethod
    async def load(self, kid: str) -> None:
        """Bring the key set up to date before a token naming `kid` is verified (a source that
        fetches does it here, on the event loop, without blocking it). Raises a 503 Problem when
        no usable key set can be had."""

    @abstractmethod
    def key_for(self, kid: str) -> jwt.PyJWK | None: ...

    @abstractmethod
    def key_ids(self) -> list[str]: ...


def _keys_by_id(document: object) -> dict[str, jwt.PyJWK]:
    if not isinstance(document, dict):
        raise jwt.PyJWKSetError("a JWKS is a JSON object")
    return {
        key.key_id: key
        for key in jwt.PyJWKSet.from_dict(document).keys
        if isinstance(key.key_id, str)
    }


def _key_texts(document: object) -> dict[str, str]:
    """Each key's JWK, by key id, as canonical JSON (`_keys_by_id` has checked the shape)."""
    assert isinstance(document, dict)
    return {
        raw["kid"]: json.dumps(raw, sort_keys=True)
        for raw in document["keys"]
        if isinstance(raw, dict) and isinstance(raw.get("kid"), str)
    }


class JwksFile(KeySource):
    """A JWKS file, re-read when its modification time changes (rotation without restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    def _refresh(self) -> None:
        stamp = os.stat(self.path).st_mtime_ns
        with self._lock:
            if stamp != self._stamp:
                self._keys = _keys_by_id(json.loads(self.path.read_text(encoding="utf-8")))
                self._stamp = stamp

    async def load(self, kid: str) -> None:
        """Nothing to wait for: `key_for` re-reads the local file when it changed."""

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        self._refresh()
        return self._keys.get(kid)

    def key_ids(self) -> list[str]:
        self._refresh()
        return list(self._keys)


class JwksUrl(KeySource):
    """An identity provider's JWKS URL.

    The key set is cached for `lifespan` seconds. It is fetched again when it is older, or when a
    token names a key id it lacks (rotation), but never twice within `cooldown` seconds, failed
    attempts included. A fetch has `timeout` seconds in all (a server that trickles its answer
    is cut off too) and concurrent requests wait for the one fetch under way. When a fetch fails,
    the last key set serves on for at most `stale_for` seconds past its lifespan (an identity
    provider's short outage does not stop the suite; a withdrawn key is trusted at most that much
    longer); without a usable set, verification answers 503.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = JWKS_TIMEOUT_SECONDS,
        lifespan: float = JWKS_LIFESPAN_SECONDS,
        cooldown: float = JWKS_COOLDOWN_SECONDS,
        stale_for: float = JWKS_LIFESPAN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.lifespan = lifespan
        self.cooldown = cooldown
        self.stale_for = stale_for
        self._clock = clock
        # Made once, here, outside the event loop: loading the CA bundle takes milliseconds.
        self._tls: ssl.SSLContext = httpx.create_ssl_context()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._texts: dict[str, str] = {}  # each key's JWK as canonical JSON, to spot a change
        self._fetched_at: float | None = None  # the last fetch that succeeded
        self._attempted_at: float | None = None  # the last fetch, whatever its outcome
        self._fetching = asyncio.Lock()

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid) if self._usable(self._clock()) else None

    def key_ids(self) -> list[str]:
        return list(self._keys) if self._usable(self._clock()) else []

    def _usable(self, now: float) -> bool:
        fetched = self._fetched_at
        return fetched is not None and now < fetched + self.lifespan + self.stale_for

    def _needs_fetch(self, kid: str, now: float) -> bool:
        if self._attempted_at is not None and now < self._attempted_at + self.cooldown:
            return False
        fresh = self._fetched_at is not None and now < self._fetched_at + self.lifespan
        return not fresh or kid not in self._keys

    async def load(self, kid: str) -> None:
        # A request that cannot be answered from the keys at hand joins a fetch under way.
        joins = self._fetching.locked() and self.key_for(kid) is None
        if joins or self._needs_fetch(kid, self._clock()):
            async with self._fetching:
                # Another request may have fetched while this one waited.
                if self._needs_fetch(kid, self._clock()):
                    await self._refresh()
        if not self._usable(self._clock()):
            raise keys_unavailable()

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        try:
            async with asyncio.timeout(self.timeout):
                document = await self._fetch()
            keys = _keys_by_id(document)
        except (TimeoutError, httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
            # The URL names no person; the error's type says timeout, refused, bad status or body.
            log.warning(
                "jwks fetch failed", extra={"jwks_url": self.url, "error": type(error).__name__}
            )
            return
        texts = _key_texts(document)
        # A key that did not change stays the same object, so the tokens it verified stay
        # remembered; a changed or withdrawn one ends the trust in its tokens (TokenVerifier).
        self._keys = {
            kid: self._keys[kid]
            if kid in self._keys and texts[kid] == self._texts.get(kid)
            else key
            for kid, key in keys.items()
        }
        self._texts = texts
        self._fetched_at = self._clock()

    async def _fetch(self) -> object:
        async with httpx.AsyncClient(
            timeout=self.timeout, verify=self._tls, follow_redirects=False
        ) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()
