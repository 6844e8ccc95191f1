"""Unbinding a pupil's lost account over HTTP (docs/adr/0053): the operator or the registrar of
the pupil's school unbinds it, audited; the account's next token names nobody and the pupil binds
a new account with a new code; every refusal changes nothing."""

from typing import TYPE_CHECKING
from uuid import uuid4

from bilet.audit import AUDIT_CATEGORY
from bilet.http import Role
from services.identity.tests.api.test_accounts import REDEEM, class_7b, codes_of, directory, pupil

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World


def unbinding_url(participant_id: object) -> str:
    return f"/identity/v1/participants/{participant_id}/account-unbinding"


async def _bound(api: "Api", world: "World", subject: str) -> tuple[str, str]:
    first, second, _ = await class_7b(api, world)
    codes = await codes_of(api, world)
    redeemed = await api.client.post(
        REDEEM, headers=pupil(api, subject), json={"code": codes[first]}
    )
    assert redeemed.status_code == 200, redeemed.text
    return first, second


async def _account_events(api: "Api") -> int:
    return len(await api.service.store.read_all(0, 10_000, categories=["account"]))


async def test_the_schools_registrar_unbinds_a_lost_account_and_the_pupil_binds_anew(
    api: "Api", world: "World"
) -> None:
    first, _ = await _bound(api, world, "sub-lost")

    response = await api.client.post(unbinding_url(first), headers=api.registrar())

    assert response.status_code == 200, response.text
    assert response.json()["unbound_accounts"] == 1
    assert response.headers["BVB-Position"]
    assert await directory(api).participant_of("sub-lost") is None
    trail = await api.service.store.read_all(0, 10_000, categories=[AUDIT_CATEGORY])
    unbinding = [e for e in trail if b"unbind_account" in bytes(e.data)]
    assert len(unbinding) == 1
    assert first.encode() in bytes(unbinding[0].data)
    # A new class list, a new account: the pupil is theirs again.
    fresh = await codes_of(api, world)
    again = await api.client.post(
        REDEEM, headers=pupil(api, "sub-new"), json={"code": fresh[first]}
    )
    assert again.status_code == 200, again.text
    assert await directory(api).participant_of("sub-new") == first
    # Nothing left to unbind from the old account: a second unbinding unbinds the new one only.
    second = await api.client.post(unbinding_url(first), headers=api.token(Role.OPERATOR))
    assert (second.status_code, second.json()["unbound_accounts"]) == (200, 1)
    assert await directory(api).participant_of("sub-new") is None


async def test_unbinding_is_refused_to_others_and_changes_nothing(
    api: "Api", world: "World"
) -> None:
    first, second = await _bound(api, world, "sub-kept")
    before = await _account_events(api)
    refusals = [
        (first, api.registrar(world.school_5), 404, "unknown_participant"),
        (first, api.token(Role.NAVIGATOR, school=str(world.school_3)), 403, "forbidden"),
        (first, api.token(Role.COORDINATOR, region=str(world.leningrad)), 403, "forbidden"),
        (first, pupil(api, "sub-kept"), 403, "forbidden"),
        (second, api.registrar(), 404, "no_bound_account"),  # Pyotr bound no account
        (uuid4(), api.token(Role.OPERATOR), 404, "unknown_participant"),
    ]
    for participant_id, headers, status, code in refusals:
        refused = await api.client.post(unbinding_url(participant_id), headers=headers)
        assert refused.status_code == status, (code, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == code
    assert await _account_events(api) == before
    assert await directory(api).participant_of("sub-kept") == first


async def test_a_new_class_list_cancels_the_earlier_unused_codes(
    api: "Api", world: "World"
) -> None:
    first, second, _ = await class_7b(api, world)
    old = await codes_of(api, world)
    used = await api.client.post(REDEEM, headers=pupil(api, "sub-dasha"), json={"code": old[first]})
    assert used.status_code == 200, used.text

    new = await codes_of(api, world)

    replaced = await api.client.post(
        REDEEM, headers=pupil(api, "sub-pyotr"), json={"code": old[second]}
    )
    assert replaced.status_code == 422
    assert replaced.headers["content-type"] == "application/problem+json"
    assert replaced.json()["code"] == "binding_code_replaced"
    assert await directory(api).participant_of("sub-pyotr") is None
    # Dasha's used code stays used; her account stays hers.
    assert await directory(api).participant_of("sub-dasha") == first
    # The newest list binds.
    newest = await api.client.post(
        REDEEM, headers=pupil(api, "sub-pyotr"), json={"code": new[second]}
    )
    assert newest.status_code == 200, newest.text
    assert await directory(api).participant_of("sub-pyotr") == second
