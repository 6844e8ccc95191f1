"""The proof of issue 20 (docs/adr/0052): a coordinator grants a navigator a school; the
identity provider's call for the account's claims returns it; a token minted from exactly those
claims (the development key stands in for the provider's) reads the school's list of pupils;
after the revocation the next call has no claims for the account, so no next token, and a token
minted from the claims of a later grant elsewhere does not read that school any more."""

from typing import Any

from bilet.http import Role

GRANTS = "/identity/v1/grants"


async def claims_of(api: Any, subject: str) -> Any:
    provider = api.token(Role.IDENTITY_PROVIDER, subject="keycloak")
    return await api.client.get(f"/identity/v1/accounts/{subject}/claims", headers=provider)


def token_from(api: Any, subject: str, claims: dict[str, Any]) -> dict[str, str]:
    """What the provider's protocol mapper does: the claims, as they came, into the token."""
    headers: dict[str, str] = api.token(
        Role(claims["role"]),
        subject=subject,
        school=claims["school"],
        region=claims["region"],
        participant=claims["participant"],
        children=claims["children"] or None,
        venue=claims["venue"],
    )
    return headers


async def test_a_granted_navigator_reads_their_school_until_the_grant_is_revoked(
    api: Any, world: Any
) -> None:
    coordinator = api.token(Role.COORDINATOR, subject="coord-47", region=str(world.leningrad))
    registered = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert registered.status_code == 201, registered.text
    school_list = f"/identity/v1/schools/{world.school_3}/pupils"
    body = {"account": "navigator-anna", "role": "navigator", "school_id": str(world.school_3)}

    issued = await api.client.post(GRANTS, headers=coordinator, json=body)
    assert issued.status_code == 201, issued.text
    claims = await claims_of(api, "navigator-anna")
    assert claims.status_code == 200, claims.text
    assert (claims.json()["role"], claims.json()["school"]) == ("navigator", str(world.school_3))
    token = token_from(api, "navigator-anna", claims.json())
    listed = await api.client.get(school_list, headers=token)
    assert listed.status_code == 200, listed.text
    assert [p["participant_id"] for p in listed.json()["pupils"]] == [
        registered.json()["participant_id"]
    ]

    revoked = await api.client.post(
        f"{GRANTS}/{issued.json()['grant_id']}/revocation", headers=coordinator
    )
    assert revoked.status_code == 200, revoked.text
    after = await claims_of(api, "navigator-anna")
    assert (after.status_code, after.json()["code"]) == (404, "no_claims")

    # Granted another school later: the next token is that school's, and reads nothing of this.
    body = {"account": "navigator-anna", "role": "navigator", "school_id": str(world.school_5)}
    assert (await api.client.post(GRANTS, headers=coordinator, json=body)).status_code == 201
    next_token = token_from(api, "navigator-anna", (await claims_of(api, "navigator-anna")).json())
    refused = await api.client.get(school_list, headers=next_token)
    assert refused.status_code == 403, refused.text
