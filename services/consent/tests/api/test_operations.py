"""What operators and caches see: private answers, readiness that notices a dead feed or job,
and the metric that says destruction is late."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import httpx

from bilet_consent.testing import JPEG

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api


def _private(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["cache-control"] == "no-store", headers
    assert "authorization" in [v.strip().lower() for v in headers["vary"].split(",")], headers


async def test_every_consent_answer_is_private(api: Api) -> None:
    dasha = api.pupils["dasha"]
    submitted = await api.submit(dasha)
    _private(submitted)
    consent_id = submitted.json()["consent_id"]
    base = f"/consent/v1/consents/{consent_id}"
    answers = [
        await api.client.post(f"{base}/verify", headers=api.coordinator()),
        await api.client.get(base, headers=api.operator()),  # the passport in full
        await api.client.get(base, headers=api.registrar()),
        await api.client.get(f"{base}/document", headers=api.operator()),
        await api.client.get(f"/consent/v1/participants/{dasha}/status", headers=api.pupil(dasha)),
        await api.client.post(
            f"{base}/withdraw", headers=api.guardian(dasha), json={"purposes": ["health_data"]}
        ),
        # Refusals too: they may say what exists.
        await api.client.get(base),
        await api.client.get(f"{base}/document", headers=api.guardian(dasha)),
        await api.client.post(f"{base}/reject", headers=api.operator(), json={"reasons": []}),
        await api.submit(dasha, document=b"\xff\xd8\xff" + JPEG),
    ]
    for response in answers:
        _private(response)
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 200, 200, 401, 403, 422, 415]
    # The probes are not personal, and are left alone.
    health = await api.client.get("/consent/healthz")
    assert "authorization" not in health.headers.get("vary", "").lower()


async def test_readiness_fails_when_the_feed_or_the_destruction_job_stops(api: Api) -> None:
    ready = await api.client.get("/consent/readyz")
    assert ready.status_code == 200, ready.text
    checks = {c["name"]: c["ready"] for c in ready.json()["checks"]}
    assert checks == {
        "event_store": True,
        "document_store": True,
        "feed": True,
        "destruction_job": True,
    }
    for name, task in (
        ("feed", api.app.state.feed_task),
        ("destruction_job", api.app.state.erasure_job),
    ):
        task.cancel()
        await asyncio.wait({task})
        answer = await api.client.get("/consent/readyz")
        assert answer.status_code == 503
        assert {c["name"]: c["ready"] for c in answer.json()["checks"]}[name] is False


def _gauge(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return float(found[1])


async def test_overdue_erasures_are_on_metrics(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    metrics = (await api.client.get("/consent/metrics")).text
    assert _gauge(metrics, "bvb_consent_erasures_overdue") == 0
    assert _gauge(metrics, "bvb_consent_erasure_job_last_success_timestamp_seconds") > 0
    withdrawn = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw", headers=api.guardian(dasha), json={}
    )
    assert withdrawn.status_code == 200
    await api.service.directory.wait_for(
        "consent", withdrawn.json()["position"], 5.0, f"consent-{dasha}"
    )
    api.clock.advance(30)  # the day of the destruction: due, not late yet
    assert (
        _gauge((await api.client.get("/consent/metrics")).text, "bvb_consent_erasures_overdue") == 0
    )
    api.clock.advance(1)  # the job (hourly) has not run since: one destruction is late
    assert (
        _gauge((await api.client.get("/consent/metrics")).text, "bvb_consent_erasures_overdue") == 1
    )
    report = await api.service.erase_due("test")
    assert [o.participant_id for o in report.erased] == [dasha]
    await api.service.directory.wait_for(
        "consent", report.erased[0].position, 5.0, f"consent-{dasha}"
    )
    assert (
        _gauge((await api.client.get("/consent/metrics")).text, "bvb_consent_erasures_overdue") == 0
    )
