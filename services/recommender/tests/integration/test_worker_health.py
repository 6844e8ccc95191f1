"""The faust worker's HTTP face (ADR 0047), what its Kubernetes probes and Prometheus read:
`/livez` while its loop answers, `/readyz` once its stores are open, its read side runs and its
consumer group is settled, `/metrics` with the issuing agent's counts; anything else is 404."""

import asyncio
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bilet_recommender.issuing_testing import append_all, build_season

from .conftest import Harness, stop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _get(port: int, path: str) -> tuple[int, bytes]:
    def call() -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read()
        except OSError:
            return 0, b""  # not listening yet

    return await asyncio.to_thread(call)


async def test_the_worker_answers_its_probes_and_scrapes(harness: Harness, tmp_path: Path) -> None:
    season = await build_season(harness.keystore, 6)
    await append_all(harness.store, season.opportunities)
    await harness.produce_catalogue(season)
    port = _free_port()
    worker = harness.start_worker(tmp_path / "worker.log", metrics_port=port)
    try:

        async def alive() -> bool:
            return (await _get(port, "/livez"))[0] == 200

        await harness.wait_for("/livez answering", alive, 60)

        async def ready() -> bool:
            status, body = await _get(port, "/readyz")
            if status == 503:
                assert json.loads(body)["status"] == "not_ready"
            return status == 200

        await harness.wait_for("/readyz ready", ready, 120)
        assert json.loads((await _get(port, "/readyz"))[1]) == {
            "status": "ready",
            "detail": "issuing",
        }
        assert (await _get(port, "/nothing"))[0] == 404
        # Tuned with the kernel's projection workers' settings, before faust started (ADR 0109).
        tuned = [
            json.loads(line)
            for line in (tmp_path / "worker.log").read_text().splitlines()
            if "recommender worker collector tuned" in line
        ]
        assert [(t["gc_thresholds"][0], t["gc_frozen"] > 0) for t in tuned] == [(500_000, True)]

        await harness.produce_facts(season)

        async def folded() -> bool:
            status, body = await _get(port, "/metrics")
            lines = body.decode().splitlines()
            return status == 200 and any(
                line.startswith("bilet_recommender_facts_total ") and float(line.split()[1]) > 0
                for line in lines
            )

        await harness.wait_for("facts counted on /metrics", folded, 120)
        metrics = (await _get(port, "/metrics"))[1].decode()
        assert "bilet_recommender_batch_facts_count" in metrics
        assert "bilet_recommender_sets_issued_total" in metrics
        # What its memory is sized by (ADR 0118): the process's resident memory, the table's
        # participants (a fact was folded, so its participant is held) and the collector's pauses.
        series = dict(
            line.split(" ", 1) for line in metrics.splitlines() if line and line[0] != "#"
        )
        assert float(series["process_resident_memory_bytes"]) > 0
        assert float(series["bilet_recommender_evidence_entries"]) >= 1
        assert float(series["bilet_recommender_evidence_characters"]) > 0
        assert "# TYPE bilet_recommender_gc_pause_seconds histogram" in metrics
    finally:
        stop(worker)
