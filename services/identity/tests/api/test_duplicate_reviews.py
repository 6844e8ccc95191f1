"""Duplicate reviews resolved, not only listed (issue #18, docs/adr/0043): the federal operator
finds the same child (a second profile merged into the reviewed one: closed, answering with the
kept id, its СНИЛС let go) or two different children (the review closes, the pair is never
flagged again); once only, by the operator only."""

import random
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx

from bilet.contracts.catalogue.identity import ParticipantMerged
from bilet.http import Role
from bilet_identity.domain.snils import generate

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

REVIEWS = "/identity/v1/duplicate-reviews"
PROBLEM = "application/problem+json"


def _refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def _register(api: "Api", school: Any, body: dict[str, Any]) -> httpx.Response:
    return await api.client.post(
        "/identity/v1/participants", headers=api.registrar(school), json=body
    )


async def _open_reviews(api: "Api") -> list[dict[str, Any]]:
    response = await api.client.get(REVIEWS, headers=api.token(Role.OPERATOR))
    assert response.status_code == 200, response.text
    reviews: list[dict[str, Any]] = response.json()
    return reviews


async def _resolve(
    api: "Api", review_id: str, body: dict[str, Any], role: Role = Role.OPERATOR
) -> httpx.Response:
    return await api.client.post(
        f"{REVIEWS}/{review_id}/resolution", headers=api.token(role), json=body
    )


async def _pupil_ids(api: "Api", school: Any) -> list[str]:
    url = f"/identity/v1/schools/{school}/pupils"
    response = await api.client.get(url, headers=api.registrar(school))
    assert response.status_code == 200, response.text
    return [pupil["participant_id"] for pupil in response.json()["pupils"]]


async def _merged_events(api: "Api") -> list[ParticipantMerged]:
    records = await api.service.store.read_all(
        limit=1000, event_types=(ParticipantMerged.event_type,)
    )
    return [ParticipantMerged.model_validate_json(record.data) for record in records]


async def test_the_same_child_merges_the_second_profile_into_the_reviewed_one(
    api: "Api", world: "World"
) -> None:
    kept = (await _register(api, world.school_3, world.pupil())).json()["participant_id"]
    # The child, moved to school 5, was registered there anew under a mistyped СНИЛС...
    wrong_snils = generate(random.Random(43)).formatted
    second = await _register(api, world.school_5, world.pupil(snils=wrong_snils))
    assert second.status_code == 201, second.text
    duplicate = second.json()["participant_id"]
    # ...and school 5 then typed the right one with the name spelt another way: a review.
    clash = await _register(api, world.school_5, world.pupil(first_name="Дарина"))
    _refused(clash, 409, "duplicate_needs_review")
    [review] = await _open_reviews(api)
    assert review["participant_id"] == kept
    assert duplicate in await _pupil_ids(api, world.school_5)

    resolved = await _resolve(
        api, review["review_id"], {"outcome": "same_child", "duplicate_participant_id": duplicate}
    )
    assert resolved.status_code == 200, resolved.text
    answer = resolved.json()
    assert (answer["kept_participant_id"], answer["merged_participant_id"]) == (kept, duplicate)
    assert answer["outcome"] == "same_child"
    assert resolved.headers["BVB-Position"]

    # The duplicate is closed and answers with the kept id; nothing changes it any more.
    shown = await api.shown(duplicate, api.registrar(world.school_5))
    assert shown["merged_into"] == kept
    assert (await api.shown(kept, api.registrar(world.school_3)))["merged_into"] is None
    patched = await api.client.patch(
        f"/identity/v1/participants/{duplicate}",
        headers=api.registrar(world.school_5),
        json={"first_name": "Дарина"},
    )
    assert _refused(patched, 409, "participant_merged")["kept_participant_id"] == kept
    # Its class letter neither (a correction of the letter alone is the profile's).
    lettered = await api.client.patch(
        f"/identity/v1/participants/{duplicate}",
        headers=api.registrar(world.school_5),
        json={"class_letter": "В"},
    )
    assert _refused(lettered, 409, "participant_merged")["kept_participant_id"] == kept
    # The other services are told (a published fact), the review is gone from the list, and
    # school 5's list no longer shows the closed profile.
    assert [
        (str(e.participant_id), str(e.kept_participant_id)) for e in await _merged_events(api)
    ] == [(duplicate, kept)]
    assert await _open_reviews(api) == []
    assert duplicate not in await _pupil_ids(api, world.school_5)
    # The mistyped СНИЛС is let go: another child may be registered under it.
    other = world.pupil(snils=wrong_snils, first_name="Ольга", birth_date="2007-09-01")
    assert (await _register(api, world.school_5, other)).status_code == 201

    again = await _resolve(api, review["review_id"], {"outcome": "different_children"})
    _refused(again, 409, "review_resolved")


async def test_two_different_children_close_the_review_and_are_never_flagged_again(
    api: "Api", world: "World"
) -> None:
    first = await _register(api, world.school_3, world.pupil())
    namesake = world.pupil(snils=generate(random.Random(44)).formatted)
    _refused(await _register(api, world.school_3, namesake), 409, "duplicate_needs_review")
    [review] = await _open_reviews(api)

    resolved = await _resolve(api, review["review_id"], {"outcome": "different_children"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["kept_participant_id"] == first.json()["participant_id"]
    assert resolved.json()["merged_participant_id"] is None
    assert await _open_reviews(api) == []

    # The namesake born the same day is registered now: the pair is not flagged again.
    registered = await _register(api, world.school_3, namesake)
    assert registered.status_code == 201, registered.text
    assert await _open_reviews(api) == []
    assert await _merged_events(api) == []
    _refused(
        await _resolve(api, review["review_id"], {"outcome": "same_child"}), 409, "review_resolved"
    )


async def test_a_snils_clash_of_two_different_children_is_not_flagged_again(
    api: "Api", world: "World"
) -> None:
    holder = (await _register(api, world.school_3, world.pupil())).json()["participant_id"]
    other_child = world.pupil(first_name="Мария")
    _refused(await _register(api, world.school_3, other_child), 409, "duplicate_needs_review")
    [review] = await _open_reviews(api)
    resolved = await _resolve(api, review["review_id"], {"outcome": "different_children"})
    assert resolved.status_code == 200, resolved.text
    # The СНИЛС is still one child's: the other child is refused, saying so, and not flagged.
    again = _refused(await _register(api, world.school_3, other_child), 409, "snils_taken")
    assert again["existing_participant_id"] == holder
    assert await _open_reviews(api) == []
    # Another name with the same number is a new question for the operator.
    third = world.pupil(first_name="Ольга")
    _refused(await _register(api, world.school_3, third), 409, "duplicate_needs_review")
    assert len(await _open_reviews(api)) == 1


async def test_only_the_operator_resolves_a_known_review_with_a_valid_resolution(
    api: "Api", world: "World"
) -> None:
    kept = (await _register(api, world.school_3, world.pupil())).json()["participant_id"]
    _refused(
        await _register(api, world.school_3, world.pupil(first_name="Мария")),
        409,
        "duplicate_needs_review",
    )
    [review] = await _open_reviews(api)
    review_id = review["review_id"]
    for role in (Role.REGISTRAR, Role.COORDINATOR, Role.SUPPORT):
        _refused(await _resolve(api, review_id, {"outcome": "same_child"}, role), 403, "forbidden")
    refused = await _resolve(api, review_id, {"outcome": "same_child"}, Role.ANALYST)
    _refused(refused, 403, "outside_analytics_purpose")  # the analyst learns why (ADR 0049)
    _refused(await _resolve(api, str(uuid4()), {"outcome": "same_child"}), 404, "unknown_review")
    for body in (
        {"outcome": "merge"},
        {},
        {"outcome": "different_children", "duplicate_participant_id": kept},
    ):
        _refused(await _resolve(api, review_id, body), 422, "invalid_request")
    for duplicate in (kept, str(uuid4())):
        body = {"outcome": "same_child", "duplicate_participant_id": duplicate}
        refusal = _refused(await _resolve(api, review_id, body), 422, "invalid_details")
        assert refusal["field"] == "duplicate_participant_id"
    # Nothing of the refusals was recorded: the review is still open, nobody merged.
    assert [r["review_id"] for r in await _open_reviews(api)] == [review_id]
    assert await _merged_events(api) == []
    assert (await _resolve(api, review_id, {"outcome": "same_child"})).status_code == 200
