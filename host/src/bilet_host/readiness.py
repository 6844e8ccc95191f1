"""Waiting for the embedded platform to be ready before saying so: `bvb run` prints the development
tokens only once every service answers its readiness probe (`/<service>/readyz` 200), asked over
the very socket a client will use, so a token printed is a token that works at once."""

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

import httpx

# How often the probes are asked again while a service is not ready yet.
PROBE_EVERY_SECONDS: Final = 0.25
# After this long without every service ready, say once which ones are still waited for.
NOTE_AFTER_SECONDS: Final = 60.0


def connect_url(bind_host: str, port: int) -> str:
    """The base URL to reach a server bound to `bind_host`: an unspecified address (every
    interface) is reached on the loopback one."""
    every_interface = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104 - read, not bound
    host = every_interface.get(bind_host, bind_host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def not_ready(client: httpx.Client, base_url: str, services: Sequence[str]) -> list[str]:
    """The services whose readiness probe does not answer 200 now (refused, failing, 503)."""
    waiting = []
    for service in services:
        try:
            answer = client.get(f"{base_url}/{service}/readyz")
        except httpx.HTTPError:
            waiting.append(service)
            continue
        if answer.status_code != 200:
            waiting.append(service)
    return waiting


def wait_until_ready(
    base_url: str,
    services: Sequence[str],
    stopped: Callable[[], bool],
    *,
    note: Callable[[str], None] = print,
    probe_every: float = PROBE_EVERY_SECONDS,
    note_after: float = NOTE_AFTER_SECONDS,
) -> bool:
    """Ask every service's readiness until all answer 200 (True), or until `stopped()` (False).
    A service still not ready after `note_after` seconds is named once through `note`."""
    started = time.monotonic()
    noted = False
    with httpx.Client(timeout=10.0) as client:
        while not stopped():
            waiting = not_ready(client, base_url, services)
            if not waiting:
                return True
            if not noted and time.monotonic() - started > note_after:
                note(f"Still waiting for these services to be ready: {', '.join(waiting)}")
                noted = True
            time.sleep(probe_every)
    return False


def announce_when_ready(
    base_url: str,
    services: Sequence[str],
    started: Callable[[], bool],
    stopped: Callable[[], bool],
    announce: Callable[[], None],
) -> threading.Thread:
    """In a daemon thread: once the server has `started()`, wait until every service is ready,
    then `announce()`; nothing when the server stops first."""

    def watch() -> None:
        while not started():
            if stopped():
                return
            time.sleep(PROBE_EVERY_SECONDS)
        if wait_until_ready(base_url, services, stopped):
            announce()

    thread = threading.Thread(target=watch, name="bvb-readiness", daemon=True)
    thread.start()
    return thread
