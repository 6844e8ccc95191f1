"""A pupil's attempt over HTTP, with the shipped instruments: start, resume, answer, complete,
results; every refusal is problem+json with its code and changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.diagnostics import StageCompleted, StageStarted
from bilet.contracts.vocabulary import Stage
from bilet.eventstore import RecordedEvent
from bilet.http import Role
from bilet_diagnostics.testing import REGION, SCHOOL_3

if TYPE_CHECKING:
    from services.diagnostics.tests.conftest import Api

ATTEMPTS = "/diagnostics/v1/attempts"


async def _all(api: Api) -> list[RecordedEvent]:
    return await api.service.store.read_all(limit=100_000)


async def _head(api: Api) -> int:
    return await api.service.store.head_position()


async def _refused(
    api: Api, response: httpx.Response, status: int, code: str, head: int
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert await _head(api) == head, "a refused request changes nothing"
    return body


async def _view(api: Api, attempt_id: str, headers: dict[str, str] | None = None) -> Any:
    response = await api.client.get(f"{ATTEMPTS}/{attempt_id}", headers=headers or api.pupil())
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_pupil_takes_a_stage_from_start_to_explained_result(api: Api) -> None:
    started = await api.start()
    assert started.status_code == 201, started.text
    attempt = started.json()
    assert started.headers["Location"] == f"{ATTEMPTS}/{attempt['attempt_id']}"
    assert started.headers["BVB-Position"].startswith("diagnostics:")
    assert started.headers["Cache-Control"] == "no-store"
    assert (attempt["status"], attempt["answered"], attempt["item_count"]) == ("in_progress", 0, 80)
    assert attempt["seconds_left"] == 25 * 60
    assert [i["item_id"] for i in attempt["items"][:2]] == ["ddo_01", "ddo_02"]
    assert {r["instrument"] for r in attempt["instruments"]} == {"klimov_ddo", "onet_ip_short"}

    await api.answer_all(attempt, lean=1)
    api.clock.advance(minutes=5)
    resumed = await _view(api, attempt["attempt_id"])
    assert resumed["answered"] == 80
    assert resumed["seconds_left"] == 20 * 60
    assert [i["answer"] for i in resumed["items"][:2]] == ["b", "b"]

    completed = await api.complete(attempt["attempt_id"])
    assert completed.status_code == 200, completed.text
    body = completed.json()
    assert body["stage"] == "interests"
    assert sum(body["interests"]["klimov"]["scores"].values()) == 20
    assert body["soft_skills"] is None
    assert body["answer_sheet"]["item_count"] == 80
    assert int(completed.headers["BVB-Position"].split(":")[1]) > int(
        started.headers["BVB-Position"].split(":")[1]
    )

    results = await api.client.get(
        f"/diagnostics/v1/participants/{api.pupils['dasha']}/results", headers=api.pupil()
    )
    assert results.status_code == 200, results.text
    (stage,) = results.json()["stages"]
    assert stage["interests"] == body["interests"]
    assert stage["answer_sheet"] == body["answer_sheet"]
    assert stage["reproduced"] is True
    assert stage["explanation"], "which answers gave which points, which rows which environment"
    assert "ddo_01" in str(stage["explanation"])


async def test_what_leaves_the_service_carries_scores_never_answers(api: Api) -> None:
    completed = await api.completed(lean=2)
    published = [r for r in await _all(api) if r.stream_id.startswith("attempt-")]
    assert [r.type for r in published] == [StageStarted.event_type, StageCompleted.event_type]
    assert all(b"option" not in record.data for record in published)
    assert completed["answer_sheet"]["digest"] in published[-1].data.decode()
    answers = [r for r in await _all(api) if r.type == "AnswerRecorded"]
    assert len(answers) == 80
    assert all(b'"$enc"' in r.data for r in answers), "answers are sealed"


async def test_the_same_answer_twice_is_one_answer_and_a_change_replaces_it(api: Api) -> None:
    attempt = await api.started()
    attempt_id = attempt["attempt_id"]
    assert (await api.answer(attempt_id, "ddo_01", "a")).json()["recorded"] is True
    head = await _head(api)
    again = await api.answer(attempt_id, "ddo_01", "a")
    assert again.status_code == 200
    assert again.json()["recorded"] is False
    assert await _head(api) == head
    assert (await api.answer(attempt_id, "ddo_01", "b")).json()["recorded"] is True
    view = await _view(api, attempt_id)
    assert view["items"][0]["answer"] == "b"
    assert view["answered"] == 1


async def test_answers_that_are_not_acceptable_are_refused_and_change_nothing(api: Api) -> None:
    attempt = await api.started()
    attempt_id = attempt["attempt_id"]
    head = await _head(api)
    await _refused(
        api, await api.answer(attempt_id, "no_such_item", "a"), 404, "unknown_item", head
    )
    wrong = await _refused(
        api, await api.answer(attempt_id, "ddo_01", "z"), 422, "unknown_option", head
    )
    assert wrong["options"] == ["a", "b"]
    await _refused(api, await api.answer(attempt_id, "ddo_01", "B!"), 422, "invalid_request", head)
    await _refused(api, await api.answer(attempt_id, "DDO 01", "a"), 422, "invalid_request", head)
    await _refused(api, await api.answer(str(uuid4()), "ddo_01", "a"), 404, "unknown_attempt", head)
    api.clock.advance(minutes=25)
    await _refused(api, await api.answer(attempt_id, "ddo_01", "a"), 409, "time_limit_passed", head)


async def test_an_incomplete_sheet_is_refused_with_what_is_missing(api: Api) -> None:
    attempt = await api.started()
    for item in attempt["items"][1:]:
        await api.answer(attempt["attempt_id"], item["item_id"], item["choices"][0]["option_id"])
    head = await _head(api)
    body = await _refused(
        api, await api.complete(attempt["attempt_id"]), 422, "incomplete_sheet", head
    )
    assert body["missing"] == ["ddo_01"]


async def test_after_completion_nothing_changes(api: Api) -> None:
    attempt = await api.started()
    await api.answer_all(attempt)
    assert (await api.complete(attempt["attempt_id"])).status_code == 200
    head = await _head(api)
    late = await api.answer(attempt["attempt_id"], "ddo_01", "b")
    await _refused(api, late, 409, "attempt_completed", head)
    await _refused(api, await api.complete(attempt["attempt_id"]), 409, "attempt_completed", head)
    await _refused(api, await api.start(), 409, "stage_completed", head)
    assert (await _view(api, attempt["attempt_id"]))["status"] == "completed"


async def test_completing_after_the_grace_is_refused_and_the_stage_may_start_again(
    api: Api,
) -> None:
    attempt = await api.started()
    await api.answer_all(attempt)
    api.clock.advance(minutes=27)
    head = await _head(api)
    await _refused(api, await api.complete(attempt["attempt_id"]), 409, "time_limit_passed", head)
    assert (await _view(api, attempt["attempt_id"]))["status"] == "expired"
    assert (await api.start()).status_code == 201, "an expired attempt no longer blocks the stage"


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


async def test_the_next_stage_opens_once_the_previous_is_completed(api: Api) -> None:
    await api.completed()
    soft = await api.completed(stage=Stage.SOFT_SKILLS, lean=1)
    assert {level["skill"] for level in soft["soft_skills"]["levels"]} >= {
        "communication", "teamwork", "self_organisation", "critical_thinking", "creativity",
    }  # fmt: skip
    knowledge = await api.completed(stage=Stage.PROFESSIONS_KNOWLEDGE, lean=3)
    assert len(knowledge["professions_knowledge"]["levels"]) == 9
    results = await api.client.get(
        f"/diagnostics/v1/participants/{api.pupils['dasha']}/results", headers=api.operator()
    )
    stages = results.json()["stages"]
    assert [s["stage"] for s in stages] == ["interests", "soft_skills", "professions_knowledge"]
    assert all(s["reproduced"] for s in stages)


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
    # A second profile of a child, merged into the kept one (docs/adr/0043): nothing new under
    # it, and the refusal names the profile to use.
    kept = uuid4()
    api.facts.change(dasha, erased=False, merged_into=kept, purposes=frozenset(Purpose))
    merged = await api.start()
    await _refused(api, merged, 409, "participant_merged", head)
    assert merged.json()["kept_participant_id"] == str(kept)
    unknown = await api.client.post(
        ATTEMPTS,
        headers=api.navigator(),
        json={"participant_id": str(uuid4()), "stage": "interests"},
    )
    await _refused(api, unknown, 404, "unknown_participant", head)
    invalid = await api.client.post(
        ATTEMPTS, headers=api.pupil(), json={"participant_id": str(dasha), "stage": "maths"}
    )
    await _refused(api, invalid, 422, "invalid_request", head)


async def test_the_window_is_one_of_days_in_the_regions_time_zone(api: Api) -> None:
    api.clock.now = datetime(2019, 10, 31, 22, 30, tzinfo=UTC)  # 1 November in Moscow
    api.facts.offsets[REGION] = timedelta(hours=3)
    head = await _head(api)
    closed = await _refused(api, await api.start(), 409, "outside_window", head)
    assert closed["today"] == "2019-11-01"
    api.facts.offsets.clear()
    assert (await api.start()).status_code == 201, "still 31 October in UTC"


async def test_two_starts_at_once_open_one_attempt(api: Api) -> None:
    first, second = await asyncio.gather(api.start(), api.start())
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["code"] == "attempt_in_progress"


async def test_the_navigator_starts_for_a_pupil_and_sees_progress_not_answers(api: Api) -> None:
    started = await api.client.post(
        ATTEMPTS,
        headers=api.navigator(),
        json={"participant_id": str(api.pupils["dasha"]), "stage": "interests"},
    )
    assert started.status_code == 201, started.text
    attempt_id = started.json()["attempt_id"]
    await api.answer(attempt_id, "ddo_01", "b")
    seen = await _view(api, attempt_id, api.navigator())
    assert seen["items"][0]["answered"] is True
    assert seen["items"][0]["answer"] is None


async def test_the_instruments_are_announced_once_and_listed(api: Api) -> None:
    announced = [r for r in await _all(api) if r.type == "InstrumentVersionPublished"]
    assert len(announced) == 4
    assert await api.service.publish_instrument_versions() == 0
    listed = await api.client.get("/diagnostics/v1/instruments", headers=api.token(Role.ANALYST))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    interests = next(s for s in body["stages"] if s["stage"] == "interests")
    assert {b["band"] for b in interests["bands"]} == {"6-7", "8-9", "10-11"}
    assert interests["bands"][0]["item_count"] == 80
    assert {v["instrument"] for v in body["versions"]} == {
        "klimov_ddo", "onet_ip_short", "soft_skills_bank", "professions_knowledge_bank",
    }  # fmt: skip
    (mapping,) = body["mappings"]
    assert mapping["mapping"] == {"mapping_id": "interests_environments", "version": "1.0.0"}
    assert mapping["table"]["rows"]


async def test_erasing_the_participants_key_erases_their_answers(api: Api) -> None:
    attempt = await api.started()
    await api.answer_all(attempt, lean=1)
    assert (await api.complete(attempt["attempt_id"])).status_code == 200
    dasha = api.pupils["dasha"]

    assert await api.service.keystore.erase(str(dasha))  # what consent's erasure does

    sheet = await api.service.sheet_answers(
        await api.service.transactor.attempt().read(f"answersheet-{attempt['attempt_id']}")
    )
    assert len(sheet.answers) == 80
    assert sheet.erased
    assert set(sheet.answers.values()) == {"$erased"}
    api.facts.change(dasha, erased=True)  # consent's ParticipantErased, through the facts
    head = await _head(api)
    results = await api.client.get(
        f"/diagnostics/v1/participants/{dasha}/results", headers=api.operator()
    )
    await _refused(api, results, 410, "participant_erased", head)


async def test_the_school_progress_route_is_served_beside_the_attempts(api: Api) -> None:
    dasha = api.pupils["dasha"]
    api.facts.stages[dasha] = (frozenset({Stage.INTERESTS}), frozenset())
    response = await api.client.get(
        f"/diagnostics/v1/schools/{SCHOOL_3}/progress",
        params={"season": "2019"},
        headers=api.navigator(),
    )
    assert response.status_code == 200, response.text
    (grade,) = response.json()["grades"]
    interests = next(s for s in grade["stages"] if s["stage"] == "interests")
    assert (interests["started"], interests["completed"]) == (1, 0)
    assert response.headers["Cache-Control"] == "no-store"
