"""The relay's HTTP face, on `BVB_RELAY_METRICS_PORT`: `/metrics` for Prometheus, `/livez` and
`/readyz` for Kubernetes (docs/adr/0022-secured-kafka.md).

Served from the relay's own event loop (asyncio, no framework: three fixed answers), so `/livez`
answering means the loop that publishes is not stuck. `/readyz` answers 200 only while the relay
publishes: it holds its store's lease and a producer session is up; a relay waiting for the lease
or backing off from a broker failure says why, with 503. A relay has no Service, so readiness
routes no traffic: it is what `kubectl get pods` and rollouts show, and the relay's stall is
alerted on from `bilet_relay_*` (lag rising while `bilet_relay_published_total` stands still).
"""

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

# A probe or a scrape sends a few hundred bytes of request: anything slower is dropped.
REQUEST_SECONDS: Final = 5.0
_REASONS: Final = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}

Readiness = Callable[[], tuple[bool, str]]


async def serve_health(
    host: str, port: int, registry: CollectorRegistry, readiness: Readiness
) -> asyncio.Server:
    """Start answering; `close()` and `wait_closed()` the returned server to stop."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                words = (await reader.readline()).decode("latin-1").split()
                while (await reader.readline()).strip():
                    pass  # headers: nothing in them changes the answer
            path = words[1].split("?", 1)[0] if len(words) >= 2 else ""
            status, content_type, body = _respond(path, registry, readiness)
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port)


def _respond(
    path: str, registry: CollectorRegistry, readiness: Readiness
) -> tuple[int, str, bytes]:
    if path == "/metrics":
        return 200, CONTENT_TYPE_LATEST, generate_latest(registry)
    if path == "/livez":
        return 200, "application/json", b'{"status":"alive"}'
    if path == "/readyz":
        ready, detail = readiness()
        body = json.dumps({"status": "ready" if ready else "not_ready", "detail": detail})
        return (200 if ready else 503), "application/json", body.encode()
    return 404, "application/json", b'{"status":"not_found"}'
