"""A pupil's attempt over HTTP: start, resume, answer, complete, results; every refusal is
problem+json with its code and changes nothing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.diagnostics import StageCompleted, StageStarted
from bilet.contracts.vocabulary import Stage
from bilet.eventstore import RecordedEvent
from bilet.http import Role

if TYPE_CHECKING:
    from services.diagnostics.tests.conftest import Api


async def _all(api: Api) -> list[RecordedEvent]:
    return await api.service.store.read_all(limit=100_000)


async def _head(api: Api) -> int:
    return await api.service.store.head_position()


async def test_a_pupil_takes_a_stage_from_start_to_result(api: Api) -> None:
    started = await api.start()
    assert started.status_code == 201, started.text
    attempt = started.json()
    assert started.headers["Location"] == f"/diagnostics/v1/attempts/{attempt['attempt_id']}"
    assert started.headers["BVB-Position"].startswith("diagnostics:")
    assert started.headers["Cache-Control"] == "no-store"
    assert attempt["status"] == "in_progress"
    assert attempt["seconds_left"] == 30 * 60
    assert [i["item_id"] for i in attempt["items"]] == ["in-01", "in-02", "in-03"]
    assert attempt["answered"] == 0

    for item, option in zip(attempt["items"], ("a", "b", "c"), strict=True):
        saved = await api.answer(attempt["attempt_id"], item["item_id"], option)
        assert saved.status_code == 200, saved.text
        assert saved.json()["recorded"] is True
    api.clock.advance(minutes=5)
    resumed = (
        await api.client.get(
            f"/diagnostics/v1/attempts/{attempt['attempt_id']}", headers=api.pupil()
        )
    ).json()
    assert [i["answer"] for i in resumed["items"]] == ["a", "b", "c"]
    assert resumed["answered"] == 3
    assert resumed["seconds_left"] == 25 * 60

    completed = await api.complete(attempt["attempt_id"])
    assert completed.status_code == 200, completed.text
    body = completed.json()
    assert body["stage"] == "interests"
    assert body["interests"]["riasec"]["scores"]["realistic"] == 3 * 40 // 6
    assert body["soft_skills"] is None
    assert body["answer_sheet"]["item_count"] == 3
    assert int(completed.headers["BVB-Position"].split(":")[1]) > int(
        started.headers["BVB-Position"].split(":")[1]
    )

    results = await api.client.get(
        f"/diagnostics/v1/participants/{api.pupils['dasha']}/results", headers=api.pupil()
    )
    assert results.status_code == 200, results.text
    (stage,) = results.json()["stages"]
    assert stage["interests"] == body["interests"]
    assert stage["reproduced"] is True
    assert stage["explanation"] == {
        "points": [["in-01", "a", 0], ["in-02", "b", 1], ["in-03", "c", 2]]
    }


async def test_what_leaves_the_service_carries_scores_never_answers(api: Api) -> None:
    completed = await api.completed(stage=Stage.INTERESTS, option="c")
    published = [r for r in await _all(api) if r.stream_id.startswith("attempt-")]
    assert [r.type for r in published] == [StageStarted.event_type, StageCompleted.event_type]
    for record in published:
        assert b'"option' not in record.data
    assert completed["answer_sheet"]["digest"] in published[-1].data.decode()


async def test_the_same_answer_twice_is_one_answer_and_a_change_replaces_it(api: Api) -> None:
    attempt = await api.started()
    attempt_id, item = attempt["attempt_id"], attempt["items"][0]["item_id"]
    assert (await api.answer(attempt_id, item, "b")).json()["recorded"] is True
    head = await _head(api)
    again = await api.answer(attempt_id, item, "b")
    assert again.status_code == 200
    assert again.json()["recorded"] is False
    assert await _head(api) == head
    changed = await api.answer(attempt_id, item, "c")
    assert changed.json()["recorded"] is True
    view = (
        await api.client.get(f"/diagnostics/v1/attempts/{attempt_id}", headers=api.pupil())
    ).json()
    assert view["items"][0]["answer"] == "c"
    assert view["answered"] == 1


async def _refused(api: Api, response: Any, status: int, code: str, head: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert await _head(api) == head, "a refused request changes nothing"
    return body


async def test_answers_that_are_not_acceptable_are_refused_and_change_nothing(api: Api) -> None:
    attempt = await api.started()
    attempt_id = attempt["attempt_id"]
    head = await _head(api)
    await _refused(api, await api.answer(attempt_id, "no-such-item"), 404, "unknown_item", head)
    wrong = await _refused(
        api, await api.answer(attempt_id, "in-01", "z"), 422, "unknown_option", head
    )
    assert wrong["options"] == ["a", "b", "c"]
    invalid = await api.client.put(
        f"/diagnostics/v1/attempts/{attempt_id}/answers/in-01",
        headers=api.pupil(),
        json={"option_id": "B!"},
    )
    await _refused(api, invalid, 422, "invalid_request", head)
    api.clock.advance(minutes=30)
    await _refused(api, await api.answer(attempt_id, "in-01"), 409, "time_limit_passed", head)


async def test_an_incomplete_sheet_is_refused_with_what_is_missing(api: Api) -> None:
    attempt = await api.started()
    await api.answer(attempt["attempt_id"], "in-02")
    head = await _head(api)
    body = await _refused(
        api, await api.complete(attempt["attempt_id"]), 422, "incomplete_sheet", head
    )
    assert body["missing"] == ["in-01", "in-03"]


async def test_after_completion_nothing_changes(api: Api) -> None:
    attempt = await api.started()
    for item in attempt["items"]:
        await api.answer(attempt["attempt_id"], item["item_id"])
    assert (await api.complete(attempt["attempt_id"])).status_code == 200
    head = await _head(api)
    await _refused(
        api, await api.answer(attempt["attempt_id"], "in-01", "c"), 409, "attempt_completed", head
    )
    await _refused(api, await api.complete(attempt["attempt_id"]), 409, "attempt_completed", head)
    await _refused(api, await api.start(), 409, "stage_completed", head)


async def test_completing_after_the_grace_is_refused(api: Api) -> None:
    attempt = await api.started()
    for item in attempt["items"]:
        await api.answer(attempt["attempt_id"], item["item_id"])
    api.clock.advance(minutes=32)
    head = await _head(api)
    await _refused(api, await api.complete(attempt["attempt_id"]), 409, "time_limit_passed", head)
    view = await api.client.get(
        f"/diagnostics/v1/attempts/{attempt['attempt_id']}", headers=api.pupil()
    )
    assert view.json()["status"] == "expired"
    restarted = await api.start()
    assert restarted.status_code == 201, "an expired attempt no longer blocks the stage"


async def test_starting_follows_the_season_rules(api: Api) -> None:
    head = await _head(api)
    locked = await _refused(
        api, await api.start(stage=Stage.SOFT_SKILLS), 409, "stage_locked", head
    )
    assert locked["waiting_for"] == "interests"
    attempt = await api.started()
    head = await _head(api)
    busy = await _refused(api, await api.start(), 409, "attempt_in_progress", head)
    assert busy["attempt_id"] == attempt["attempt_id"]
    api.facts.rules[2019] = (Stage.INTERESTS,)
    await _refused(api, await api.start(stage=Stage.SOFT_SKILLS), 422, "stage_not_in_season", head)


async def test_starting_needs_consent_enrolment_and_an_open_window(api: Api) -> None:
    dasha = api.pupils["dasha"]
    head = await _head(api)
    api.facts.change(dasha, purposes=frozenset())
    await _refused(api, await api.start(), 403, "consent_required", head)
    api.facts.change(dasha, purposes=frozenset(Purpose))
    api.facts.change(dasha, seasons=frozenset({2018}), season=2018)
    await _refused(api, await api.start(), 409, "not_enrolled", head)
    api.facts.change(dasha, seasons=frozenset({2019}), season=2019)
    api.clock.advance(days=30)
    await _refused(api, await api.start(), 409, "outside_window", head)
    api.facts.change(dasha, erased=True)
    await _refused(api, await api.start(), 410, "participant_erased", head)
    unknown = await api.client.post(
        "/diagnostics/v1/attempts",
        headers=api.navigator(),
        json={"participant_id": str(uuid4()), "stage": "interests"},
    )
    await _refused(api, unknown, 404, "unknown_participant", head)


async def test_two_starts_at_once_open_one_attempt(api: Api) -> None:
    first, second = await asyncio.gather(api.start(), api.start())
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["code"] == "attempt_in_progress"


async def test_the_navigator_starts_for_a_pupil_and_sees_progress_not_answers(api: Api) -> None:
    started = await api.client.post(
        "/diagnostics/v1/attempts",
        headers=api.navigator(),
        json={"participant_id": str(api.pupils["dasha"]), "stage": "interests"},
    )
    assert started.status_code == 201, started.text
    attempt_id = started.json()["attempt_id"]
    await api.answer(attempt_id, "in-01", "c")
    seen = await api.client.get(f"/diagnostics/v1/attempts/{attempt_id}", headers=api.navigator())
    assert seen.status_code == 200
    assert seen.json()["items"][0]["answered"] is True
    assert seen.json()["items"][0]["answer"] is None


async def test_the_instruments_are_announced_once_and_listed(api: Api) -> None:
    announced = [r for r in await _all(api) if r.type == "InstrumentVersionPublished"]
    assert len(announced) == 3
    assert await api.service.publish_instrument_versions() == 0
    listed = await api.client.get("/diagnostics/v1/instruments", headers=api.token(Role.ANALYST))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert {s["stage"] for s in body["stages"]} == {
        "interests",
        "soft_skills",
        "professions_knowledge",
    }
    assert {v["instrument"] for v in body["versions"]} == {
        "onet_ip_short",
        "soft_skills_bank",
        "professions_knowledge_bank",
    }
    assert body["mappings"][0]["mapping"]["mapping_id"] == "fixture_environments"
