"""`GET /recommender/v1/regions/{id}/insights`: the coordinator's counts per municipality and
ISO week equal a count over the same events (distinct pupils, weeks of the events' recording),
any count under 5 suppressed; an erased pupil is counted no more."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bilet import stores
from bilet.contracts import EventMetadata, decode, encode
from bilet.contracts.catalogue.consent import ErasureReason, ParticipantErased
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.eventstore import EventStore
from bilet.http import Role
from bilet_recommender.adapters.insights_projection import iso_week
from bilet_recommender.application.base import Count
from bilet_recommender.application.insights import cells

if TYPE_CHECKING:
    from uuid import UUID

    from services.recommender.tests.api.conftest import Api

COUNTED = {
    "ParticipantRegistered": "registered",
    "ConsentVerified": "consent_verified",
    "StageCompleted": "stage_completed",
    "CareerEventAttended": "career_event_attended",
}


async def _records(store: EventStore) -> list[Any]:
    found: list[Any] = []
    position = 0
    while batch := await store.read_all(position, 1000):
        found += batch
        position = batch[-1].position
    return found


async def expected_cells(api: Api, region_pupils: set[UUID], erased: set[UUID]) -> dict[str, Any]:
    """The counts, by week, over the stores' events about the region's pupils (one municipality
    in the region the test seeds)."""
    marks: dict[str, dict[str, set[UUID]]] = defaultdict(lambda: defaultdict(set))
    leading: dict[str, dict[str, set[UUID]]] = defaultdict(lambda: defaultdict(set))
    sources = await stores.open_source_stores(
        api.runtime.settings, ("identity", "consent", "diagnostics", "events")
    )
    try:
        records = [r for s in sources.values() for r in await _records(s)]
    finally:
        for store in sources.values():
            await store.close()
    records += await _records(api.runtime.store)
    for record in records:
        if record.type not in COUNTED and record.type != "RecommendationsIssued":
            continue
        event = decode(record)
        pid = event.participant_id  # type: ignore[attr-defined]
        if pid not in region_pupils or pid in erased:
            continue
        week = iso_week(record.recorded_at)
        if isinstance(event, RecommendationsIssued):
            leading[week][event.leading_environments[0].value].add(pid)
        else:
            marks[week][COUNTED[record.type]].add(pid)
    cells = {}
    for week in sorted(set(marks) | set(leading)):
        cell: dict[str, Any] = {
            metric: (n if (n := len(marks[week][metric])) >= 5 else None)
            for metric in COUNTED.values()
        }
        tops = sorted(
            ((e, len(p)) for e, p in leading[week].items() if len(p) >= 5),
            key=lambda item: -item[1],
        )
        cell["top_environments"] = [{"environment": e, "pupils": n} for e, n in tops[:3]]
        cells[week] = cell
    return cells


def _by_week(body: dict[str, Any], municipality: str) -> dict[str, Any]:
    return {
        cell["week"]: {k: v for k, v in cell.items() if k not in ("week", "municipality")}
        for cell in body["cells"]
        if cell["municipality"] == municipality
    }


def path(region: UUID) -> str:
    return f"/recommender/v1/regions/{region}/insights"


async def test_the_counts_equal_a_count_over_the_events(api: Api) -> None:
    response = await api.client.get(path(api.REGION), headers=api.coordinator())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["minimum_pupils"] == 5
    assert {cell["municipality"] for cell in body["cells"]} == {"Лужский муниципальный район"}
    region_pupils = {pid for name, pid in api.pupils.items() if name != "kolya"}
    expected = await expected_cells(api, region_pupils, set())
    assert _by_week(body, "Лужский муниципальный район") == expected
    totals = {
        metric: sum(cell[metric] or 0 for cell in body["cells"])
        for metric in ("registered", "career_event_attended")
    }
    assert totals["registered"] >= 5, "the seeded pupils are shown"
    assert totals["career_event_attended"] == 0, "one pupil attended: suppressed"
    assert any(cell["top_environments"] for cell in body["cells"])


async def test_a_small_municipality_shows_no_number(api: Api) -> None:
    response = await api.client.get(
        path(api.OTHER_REGION), headers=api.coordinator(api.OTHER_REGION)
    )
    assert response.status_code == 200, response.text
    for cell in response.json()["cells"]:
        assert cell["municipality"] == "Санкт-Петербург"
        assert [cell[m] for m in COUNTED.values()] == [None] * 4
        assert cell["top_environments"] == []


async def test_an_erased_pupil_is_counted_no_more(api: Api) -> None:
    erased = api.pupils["fill1"]
    consent = await stores.open_event_store(api.runtime.settings, "consent")
    try:
        event = ParticipantErased(
            participant_id=erased,
            reason=ErasureReason.CONSENT_WITHDRAWN,
            erased_at=datetime.now(UTC),
            destruction_record_id=erased,
        )
        result = await consent.append(event.stream_id, [encode(event, EventMetadata(actor="test"))])
    finally:
        await consent.close()
    response = await api.client.get(
        path(api.REGION),
        headers={**api.coordinator(), "BVB-Position": f"consent:{result.position}"},
    )
    assert response.status_code == 200, response.text
    region_pupils = {pid for name, pid in api.pupils.items() if name != "kolya"}
    expected = await expected_cells(api, region_pupils, {erased})
    assert _by_week(response.json(), "Лужский муниципальный район") == expected


async def test_only_the_regions_coordinator_reads_its_insights(api: Api) -> None:
    other = await api.client.get(path(api.REGION), headers=api.coordinator(api.OTHER_REGION))
    assert other.status_code == 403
    for role in Role:
        if role is Role.COORDINATOR:
            continue
        refused = await api.client.get(path(api.REGION), headers=api.token(role))
        assert refused.status_code == 403, role
        refusal = "outside_analytics_purpose" if role is Role.ANALYST else "forbidden"
        assert refused.json()["code"] == refusal, role  # ADR 0049


def test_a_cell_shows_5_pupils_and_hides_4() -> None:
    counts = [
        Count("Луга", "2026-W45", "registered", "", 5),
        Count("Луга", "2026-W45", "consent_verified", "", 4),
        Count("Луга", "2026-W45", "leading_environment", "smart", 6),
        Count("Луга", "2026-W45", "leading_environment", "agrarian", 6),
        Count("Луга", "2026-W45", "leading_environment", "creative", 7),
        Count("Луга", "2026-W45", "leading_environment", "safe", 5),
        Count("Луга", "2026-W45", "leading_environment", "social", 4),
        Count("Луга", "2026-W46", "stage_completed", "", 1),
    ]
    first, second = cells(counts)
    assert (first.week, first.registered, first.consent_verified) == ("2026-W45", 5, None)
    assert [(e.value, n) for e, n in first.top_environments] == [
        ("creative", 7),
        ("smart", 6),  # a tie in the programme's order of environments
        ("agrarian", 6),
    ]
    assert (second.week, second.stage_completed, second.top_environments) == ("2026-W46", None, ())
