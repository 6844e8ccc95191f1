"""`GET /recommender/v1/participants/{id}/recommendations`: the latest set from the event
store, explained in Russian, to its readers only, while a consent covers recommendations."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bilet import stores
from bilet.contracts import DomainEvent, EventMetadata, encode
from bilet.contracts.catalogue.consent import ConsentWithdrawn, ErasureReason, ParticipantErased
from bilet.http import Role

if TYPE_CHECKING:
    from services.recommender.tests.api.conftest import Api


async def test_the_pupil_sees_their_set_explained(api: Api) -> None:
    response = await api.client.get(api.recommendations_of("dasha"), headers=api.pupil("dasha"))
    assert response.status_code == 200, response.text
    body = response.json()
    issued = body["recommendations"]
    assert issued["participant_id"] == str(api.pupils["dasha"])
    assert issued["leading_environments"][0] == "smart"
    explanation = body["explanation"]
    assert body["reproduced"] is True
    assert explanation["recommendation_set_id"] == issued["recommendation_set_id"]
    assert "Ведущие для тебя среды" in explanation["text"][0]
    # The career event attended and the mentor's rubric count, and are named.
    sources = {
        part["source"]
        for environment in explanation["environments"]
        for part in environment["contributions"]
    }
    assert sources == {"interests", "professions_knowledge", "attendance", "mentor_rubric"}
    cited = {
        cited["source"]
        for environment in explanation["environments"]
        for part in environment["contributions"]
        for cited in part["evidence"]
    }
    assert {"stage_result", "attendance", "mentor_feedback"} <= cited
    assert [i["subject"] for i in explanation["study_plan"]] == [
        i["subject"] for i in issued["study_plan"]
    ]
    assert response.headers["ETag"]
    assert response.headers["Cache-Control"] == "no-store"


async def test_every_reader_sees_the_same_and_the_etag_answers_304(api: Api) -> None:
    path = api.recommendations_of("dasha")
    first = await api.client.get(path, headers=api.pupil("dasha"))
    etag = first.headers["ETag"]
    for headers in (
        api.guardian("dasha"),
        api.navigator(api.SCHOOL_3),
        api.coordinator(api.REGION),
    ):
        again = await api.client.get(path, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert again.headers["ETag"] == etag
        unchanged = await api.client.get(path, headers={**headers, "If-None-Match": etag})
        assert unchanged.status_code == 304
        assert unchanged.content == b""


async def test_a_pupil_without_three_stages_has_no_set_yet(api: Api) -> None:
    response = await api.client.get(api.recommendations_of("nastya"), headers=api.pupil("nastya"))
    assert response.status_code == 200, response.text
    assert response.json()["recommendations"] is None
    assert response.json()["explanation"] is None


async def test_without_a_consent_covering_recommendations_nothing_is_shown(api: Api) -> None:
    response = await api.client.get(api.recommendations_of("petya"), headers=api.pupil("petya"))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "consent_required"
    stream = await api.runtime.store.read_stream(f"recommendations-{api.pupils['petya']}")
    assert stream == [], "nothing is computed without the consent"


async def test_others_are_refused_or_answered_as_unknown(api: Api) -> None:
    path = api.recommendations_of("dasha")
    for role in (Role.REGISTRAR, Role.MENTOR, Role.SUPPORT, Role.ANALYST, Role.OPERATOR):
        refused = await api.client.get(path, headers=api.token(role, school=str(api.SCHOOL_3)))
        assert refused.status_code == 403, role
        # An analyst learns why: the role is for the analytics export (ADR 0049).
        analyst = role is Role.ANALYST
        assert refused.json()["code"] == ("outside_analytics_purpose" if analyst else "forbidden")
    for headers in (
        api.pupil("sasha"),
        api.guardian("sasha"),
        api.navigator(api.SCHOOL_5),
        api.coordinator(api.OTHER_REGION),
    ):
        unknown = await api.client.get(path, headers=headers)
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["code"] == "unknown_participant"
    nobody = await api.client.get(
        "/recommender/v1/participants/8d1c3e4f-0000-4000-8000-000000000000/recommendations",
        headers=api.coordinator(),
    )
    assert nobody.status_code == 404
    assert nobody.json()["code"] == "unknown_participant"


async def test_a_bad_position_token_is_refused(api: Api) -> None:
    path = api.recommendations_of("dasha")
    for token in ("nonsense", "portfolio:1"):
        response = await api.client.get(path, headers={**api.pupil("dasha"), "BVB-Position": token})
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_position_token"


async def _consent_fact(api: Api, event: DomainEvent) -> str:
    """Append consent's `event` to its store; the `BVB-Position` token of it."""
    consent = await stores.open_event_store(api.runtime.settings, "consent")
    try:
        result = await consent.append(event.stream_id, [encode(event, EventMetadata(actor="test"))])
    finally:
        await consent.close()
    return f"consent:{result.position}:{event.stream_id}"


async def test_a_withdrawal_hides_the_set_at_once(api: Api) -> None:
    path = api.recommendations_of("sasha")
    shown = await api.client.get(path, headers=api.pupil("sasha"))
    assert shown.status_code == 200
    evidence = await api.runtime.evidence.evidence(api.pupils["sasha"])
    assert evidence is not None
    assert evidence.consent is not None
    token = await _consent_fact(
        api,
        ConsentWithdrawn(
            participant_id=api.pupils["sasha"],
            consent_id=evidence.consent.consent_id,
            withdrawn_on=api.NOW.date(),
            erase_by=api.NOW.date() + timedelta(days=30),
        ),
    )
    hidden = await api.client.get(path, headers={**api.pupil("sasha"), "BVB-Position": token})
    assert hidden.status_code == 403
    assert hidden.json()["code"] == "consent_required"


async def test_an_erased_pupil_learns_it_and_others_find_no_one(api: Api) -> None:
    pid = api.pupils["fill2"]
    token = await _consent_fact(
        api,
        ParticipantErased(
            participant_id=pid,
            reason=ErasureReason.CONSENT_WITHDRAWN,
            erased_at=api.NOW,
            destruction_record_id=pid,
        ),
    )
    path = api.recommendations_of("fill2")
    own = await api.client.get(path, headers={**api.pupil("fill2"), "BVB-Position": token})
    assert own.status_code == 410
    assert own.json()["code"] == "participant_erased"
    navigator = await api.client.get(path, headers=api.navigator(api.SCHOOL_3))
    assert navigator.status_code == 404


async def test_a_role_that_may_not_read_is_refused_before_any_wait(api: Api) -> None:
    response = await api.client.get(
        api.recommendations_of("dasha"),
        headers={**api.token(Role.MENTOR), "BVB-Position": "diagnostics:999999"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
