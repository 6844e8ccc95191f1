"""What a projection's commits changed, told to the tasks of this process that wait for one key:
the portfolio's server-sent events wait for their participant (docs/adr/0059).

A projection names what its transaction changes (`ReadModelTx.changed`: a participant id, or
`EVERY_KEY` for a change every key shows, such as reference data). After the commit the runtime
publishes the keys here (`ReadModel.announce`) and, on PostgreSQL, in the payload of the NOTIFY
it sends at commit (`notify_payloads`), which the one listening connection of every other
process turns back into the same publication (`read_payload`). A waiting task costs nothing
between changes: no timer, no query. A listener (`ChangeSignals.listen`) hears every key a
projection's commits name, as they are published: the portfolio's cache of rendered answers drops
a changed (or erased) participant's entries with it (docs/adr/0065).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Iterator
from typing import Final

from bilet.projections.port import EVERY_KEY

# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more: keys go in chunks below that.
PAYLOAD_LIMIT: Final = 7000
# Between the projection's key and the changed keys in a payload. A payload without it (as
# older workers and a rebuild's switch send) says that anything may have changed.
_KEYS_FOLLOW: Final = "\n"
# Told the keys a commit changed; None: anything may have changed.
ChangeListener = Callable[[Collection[str] | None], None]


class Watch:
    """One task's wait for a key of a projection. A change published while the task was busy
    (re-checking after the previous one) is kept, not lost: the next `wait` returns at once."""

    __slots__ = ("_prepare", "_signal")

    def __init__(self, prepare: Callable[[], Awaitable[None]]) -> None:
        self._prepare = prepare
        self._signal = asyncio.Event()

    def poke(self) -> None:
        """Wake the task (a change, or its server closing)."""
        self._signal.set()

    async def wait(self, timeout: float) -> bool:
        """Until the key changes (True) or `timeout` seconds pass (False)."""
        await self._prepare()  # PostgreSQL: listen again if the connection was lost
        if not self._signal.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._signal.wait()
        changed = self._signal.is_set()
        self._signal.clear()
        return changed


class ChangeSignals:
    """The watches of one read model in this process, by projection and key."""

    def __init__(self, prepare: Callable[[], Awaitable[None]]) -> None:
        self._prepare = prepare
        self._watches: dict[str, dict[str, set[Watch]]] = {}
        self._listeners: dict[str, list[ChangeListener]] = {}

    @contextlib.contextmanager
    def watch(self, projection: str, key: str) -> Iterator[Watch]:
        watch = Watch(self._prepare)
        by_key = self._watches.setdefault(projection, {})
        by_key.setdefault(key, set()).add(watch)
        try:
            yield watch
        finally:
            watches = by_key[key]
            watches.discard(watch)
            if not watches:
                del by_key[key]

    @contextlib.contextmanager
    def listen(self, projection: str, listener: ChangeListener) -> Iterator[None]:
        """Call `listener` with the keys of every publication of `projection` (None: anything
        may have changed), synchronously, while the context is open."""
        listeners = self._listeners.setdefault(projection, [])
        listeners.append(listener)
        try:
            yield
        finally:
            listeners.remove(listener)

    async def ready(self) -> None:
        """Listen to other processes' publications (again, if the connection was lost)."""
        await self._prepare()

    def watching(self, projection: str) -> int:
        """How many watches of a projection are open."""
        return sum(len(watches) for watches in self._watches.get(projection, {}).values())

    def publish(self, projection: str | None, keys: Collection[str] | None) -> None:
        """Wake the watches of `keys` of `projection`; `keys` None (or holding `EVERY_KEY`):
        every watch of the projection; `projection` None: of every projection. Its listeners
        hear the keys (None for every key) before any watch is woken."""
        heard = None if keys is None or EVERY_KEY in keys else keys
        for name in list(self._listeners) if projection is None else [projection]:
            for listener in self._listeners.get(name, ()):
                listener(heard)
        projections = list(self._watches) if projection is None else [projection]
        for name in projections:
            by_key = self._watches.get(name)
            if not by_key:
                continue
            if keys is None or EVERY_KEY in keys:
                woken = [watch for watches in by_key.values() for watch in watches]
            else:
                woken = [watch for key in keys for watch in by_key.get(key, ())]
            for watch in woken:
                watch.poke()


def notify_payloads(projection: str, keys: Collection[str] | None) -> list[str]:
    """The NOTIFY payloads telling other processes that `keys` of `projection` changed (None:
    anything may have); no keys at all still makes one payload (the positions moved)."""
    if keys is None or EVERY_KEY in keys or any(key.split() != [key] for key in keys):
        return [projection]  # a key with blanks in it cannot be sent: everything, to be safe
    payloads: list[str] = []
    head = projection + _KEYS_FOLLOW
    current: list[str] = []
    size = len(head)
    for key in sorted(keys):
        if current and size + len(key) + 1 > PAYLOAD_LIMIT:
            payloads.append(head + " ".join(current))
            current, size = [], len(head)
        current.append(key)
        size += len(key) + 1
    payloads.append(head + " ".join(current))
    return payloads


def read_payload(payload: str) -> tuple[str, set[str] | None]:
    """A payload of `notify_payloads` as (projection, keys; None: anything may have changed)."""
    projection, follows, keys = payload.partition(_KEYS_FOLLOW)
    if not follows:
        return projection, None
    return projection, set(keys.split())
