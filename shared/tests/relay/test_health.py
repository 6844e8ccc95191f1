"""The relay's probes and metrics (bilet.relay.health), served from its event loop."""

import httpx
from prometheus_client import CollectorRegistry

from bilet.relay import RelayMetrics
from bilet.relay.health import serve_health


async def test_probes_answer_from_the_readiness_of_the_moment() -> None:
    metrics = RelayMetrics(CollectorRegistry())
    metrics.bind("bilet.identity").connected.set(1)
    state = {"ready": False}
    server = await serve_health(
        "127.0.0.1",
        0,
        metrics.registry,
        lambda: (state["ready"], "publishing" if state["ready"] else "waiting for the relay lease"),
    )
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            waiting = await client.get("/readyz")
            assert (waiting.status_code, waiting.json()) == (
                503,
                {"status": "not_ready", "detail": "waiting for the relay lease"},
            )
            state["ready"] = True
            assert (await client.get("/readyz?verbose=1")).status_code == 200
            assert (await client.get("/livez")).json() == {"status": "alive"}
            scraped = await client.get("/metrics")
            assert 'bilet_relay_connected{relay="bilet.identity"} 1.0' in scraped.text
            assert scraped.headers["content-type"].startswith("text/plain")
            assert (await client.get("/anything-else")).status_code == 404
    finally:
        server.close()
        await server.wait_closed()
