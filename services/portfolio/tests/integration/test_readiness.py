"""Readiness is about this replica (ADR 0022): a broker that does not answer or a projection that
is behind does not take the API out of the load balancer; the lag stays a metric, sampled in the
background."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bilet.http.testing import app_lifespan
from bilet_portfolio.adapters.lag import keep_sampling
from bilet_portfolio.app import create_app

# Bounds a wait that would otherwise hang; the sampler measures at once on start.
WAIT_SECONDS = 20


@contextlib.asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app_lifespan(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://portfolio"
        ) as client,
    ):
        yield client


async def test_the_api_stays_ready_while_kafka_does_not_answer(make_settings: Any) -> None:
    # Port 1 on loopback: nothing listens, every lag measurement fails.
    settings = make_settings(portfolio_embedded_feed=False, kafka_bootstrap="127.0.0.1:1")
    async with _serving(create_app(settings)) as client:
        ready = await client.get("/portfolio/readyz")
    assert ready.status_code == 200, ready.text
    checks = {check["name"] for check in ready.json()["checks"]}
    assert checks == {"read_model", "feed"}


async def test_the_lag_is_a_metric_without_anyone_probing_readiness(make_settings: Any) -> None:
    async with _serving(create_app(make_settings())) as client:
        metrics = ""
        for _ in range(WAIT_SECONDS * 20):
            metrics = (await client.get("/portfolio/metrics")).text
            if "bilet_projection_consumer_lag{" in metrics:
                break
            await asyncio.sleep(0.05)
    sample = 'bilet_projection_consumer_lag{partition="0",projection="portfolio",topic="identity"}'
    assert sample in metrics


class FlakyProbe:
    """Fails its first `failures` measurements (a broker away), then answers; `answered` is set
    at the second answer."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.measured = 0
        self.answered = asyncio.Event()

    async def lag(self) -> dict[str, int]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.measured += 1
        if self.measured == 2:
            self.answered.set()
        return {"bilet.identity:0": 5000}

    async def close(self) -> None:
        return None


async def test_sampling_survives_failures_and_logs_them_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = FlakyProbe(failures=3)
    with caplog.at_level(logging.INFO, logger="bilet_portfolio.adapters.lag"):
        sampler = asyncio.create_task(keep_sampling(probe, 0.01))
        try:
            await asyncio.wait_for(probe.answered.wait(), WAIT_SECONDS)
        finally:
            sampler.cancel()
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("cannot measure the projection lag; trying again") == 1
    assert messages.count("the projection lag is measured again") == 1
