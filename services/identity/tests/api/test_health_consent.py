"""Health data is shown only where a consent covers `health_data` and the role needs it (issue #12,
docs/adr/0019): identity follows consent's stream (its store, embedded, as `make run`) into a read
model of the consents in force, and answers health fields as withheld, with the reason, when no
verified, unexpired, unwithdrawn consent covers them. A read carrying a consent command's
`BVB-Position` reflects that command (a withdrawal is withheld at once)."""

import json
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from bilet.audit import AUDIT_CATEGORY
from bilet.contracts.catalogue.consent import (
    ConsentVerified,
    ConsentWithdrawn,
    Purpose,
)
from bilet.http import Role

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

WITHOUT_HEALTH = tuple(p for p in Purpose if p is not Purpose.HEALTH_DATA)
HEALTH_WORDS = ("musculoskeletal", "step_free_access")


def _entitled(api: "Api", pid: str) -> list[dict[str, str]]:
    """The roles that need the health data: the school's registrar, the pupil, a guardian."""
    return [
        api.registrar(),
        api.token(Role.PUPIL, participant=pid),
        api.token(Role.GUARDIAN, children=[pid]),
    ]


async def _personal(
    api: "Api", pid: str, headers: dict[str, str], token: str | None = None
) -> dict[str, Any]:
    personal: dict[str, Any] = (await api.shown(pid, headers, token))["personal"]
    return personal


def _assert_withheld(personal: dict[str, Any], reason: str = "no_health_consent") -> None:
    assert personal["health_limitations"] is None
    assert personal["accessibility_needs"] is None
    assert personal["health_withheld"] == reason
    assert personal["health_erased"] is False  # withheld, not destroyed
    assert personal["snils"] == "112-233-445 95"  # the rest is shown as before
    for word in HEALTH_WORDS:
        assert word not in json.dumps(personal)


def _assert_shown(personal: dict[str, Any]) -> None:
    assert personal["health_limitations"] == {"has_limitations": True, "kind": "musculoskeletal"}
    assert personal["accessibility_needs"] == ["step_free_access"]
    assert personal["health_withheld"] is None


async def test_before_any_consent_not_even_the_registering_school_sees_health_data(
    api: "Api",
) -> None:
    pid = await api.registered_with_health()

    for headers in _entitled(api, pid):
        _assert_withheld(await _personal(api, pid, headers))


async def test_given_a_consent_without_health_data_then_no_health_fields(api: "Api") -> None:
    pid = await api.registered_with_health()

    token = await api.consent_verified(pid, WITHOUT_HEALTH)

    for headers in _entitled(api, pid):
        _assert_withheld(await _personal(api, pid, headers, token))


async def test_given_a_consent_with_health_data_then_the_roles_that_need_it_see_it(
    api: "Api", world: "World"
) -> None:
    pid = await api.registered_with_health()

    token = await api.consent_verified(pid)

    for headers in _entitled(api, pid):
        _assert_shown(await _personal(api, pid, headers, token))
    # A role that does not need it never sees it, consent or not.
    for headers in (
        api.token(Role.OPERATOR),
        api.token(Role.NAVIGATOR, school=str(world.school_3)),
        api.token(Role.COORDINATOR, region=str(world.leningrad)),
    ):
        _assert_withheld(await _personal(api, pid, headers, token), "not_needed_by_role")


async def test_a_withdrawal_of_health_data_is_withheld_at_once(api: "Api") -> None:
    pid = await api.registered_with_health()
    consent_id = uuid4()
    _assert_shown(
        await _personal(
            api, pid, api.registrar(), await api.consent_verified(pid, consent_id=consent_id)
        )
    )

    # Only the consent's event: the health key stays (consent would destroy it too), so what
    # withholds the data here is identity's read of the consent alone.
    token = await api.health_data_withdrawn(pid, consent_id)

    for headers in _entitled(api, pid):
        _assert_withheld(await _personal(api, pid, headers, token))


async def test_after_a_whole_withdrawal_no_consent_covers_health_data_again(api: "Api") -> None:
    withdrawn = await api.registered_with_health()
    consent_id = uuid4()
    await api.consent_verified(withdrawn, consent_id=consent_id)
    token = await api.consent_recorded(
        withdrawn,
        ConsentWithdrawn(
            participant_id=UUID(withdrawn),
            consent_id=consent_id,
            withdrawn_on=date.today(),
            erase_by=date.today() + timedelta(days=30),
        ),
    )
    _assert_withheld(await _personal(api, withdrawn, api.registrar(), token))
    # A consent verified after the withdrawal opens nothing: the destruction is scheduled.
    later = await api.consent_verified(withdrawn)
    _assert_withheld(await _personal(api, withdrawn, api.registrar(), later))


async def test_an_expired_consent_covers_nothing(api: "Api") -> None:
    pid = await api.registered_with_health()
    expired = ConsentVerified(
        participant_id=UUID(pid),
        consent_id=uuid4(),
        purposes=tuple(Purpose),
        valid_until=date.today() - timedelta(days=1),
    )

    token = await api.consent_recorded(pid, expired)

    _assert_withheld(await _personal(api, pid, api.registrar(), token))


async def test_a_health_read_is_audited_apart_with_its_purpose(api: "Api") -> None:
    pid = await api.registered_with_health()
    await _personal(api, pid, api.registrar())  # withheld: no health read to audit
    token = await api.consent_verified(pid)
    await _personal(api, pid, api.registrar(), token)

    records = await api.service.store.read_all(categories=[AUDIT_CATEGORY], limit=10_000)
    trail = [json.loads(r.data) for r in records if json.loads(r.data)["subject"] == pid]
    reads = [(t["purpose"], sorted(t["fields"])) for t in trail if t["access"] == "read"]
    personal = ["birth_date", "citizenship", "full_name", "home_schooled", "snils"]
    assert reads == [
        ("participant_view", personal),
        ("participant_view", personal),
        ("participant_health_view", ["accessibility_needs", "health_limitations"]),
    ]


async def test_position_tokens_of_other_services_or_not_yet_applied_are_refused(api: "Api") -> None:
    pid = await api.registered_with_health()
    url = f"/identity/v1/participants/{pid}"

    foreign = await api.client.get(url, headers=api.registrar() | {"BVB-Position": "portfolio:1"})
    unreached = await api.client.get(
        url, headers=api.registrar() | {"BVB-Position": f"consent:999999:consent-{pid}"}
    )
    malformed = await api.client.get(url, headers=api.registrar() | {"BVB-Position": "consent"})

    assert (foreign.status_code, foreign.json()["code"]) == (400, "invalid_position_token")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "invalid_position_token")
    assert (unreached.status_code, unreached.json()["code"]) == (409, "not_yet_visible")
    assert unreached.headers["Retry-After"] == "1"
    for refused in (foreign, unreached, malformed):
        assert refused.headers["content-type"] == "application/problem+json"
    # Identity's own token needs no wait.
    own = await api.client.get(url, headers=api.registrar() | {"BVB-Position": "identity:1"})
    assert own.status_code == 200, own.text
