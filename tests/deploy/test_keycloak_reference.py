"""The Keycloak reference (deploy/keycloak, docs/adr/0052, 0053) stays true to the services: its
provider client's tokens carry the role the claims endpoint answers, its mappers copy every
claim the endpoint returns, the pupils' and parents' portals name the sign-up role the endpoint
accepts, and its access tokens live less than the services accept."""

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bilet.http import Role
from bilet.settings import PlatformSettings
from bilet_identity.access.routes import ClaimsModel, SignUpPortal

REALM = Path(__file__).parents[2] / "deploy" / "keycloak" / "realm-bilet.json"


def _realm() -> dict[str, Any]:
    realm: dict[str, Any] = json.loads(REALM.read_text(encoding="utf-8"))
    return realm


def _mappers(realm: dict[str, Any], scope: str) -> dict[str, dict[str, Any]]:
    [found] = [s for s in realm["clientScopes"] if s["name"] == scope]
    return {m["protocolMapper"]: m["config"] for m in found["protocolMappers"]}


def test_the_provider_clients_tokens_carry_the_identity_provider_role() -> None:
    realm = _realm()
    [client] = [c for c in realm["clients"] if c["clientId"] == "bilet-identity-provider"]
    assert client["serviceAccountsEnabled"]
    assert not client["publicClient"]
    [scope] = client["defaultClientScopes"]
    role = _mappers(realm, scope)["oidc-hardcoded-claim-mapper"]
    assert (role["claim.name"], role["claim.value"]) == ("role", Role.IDENTITY_PROVIDER.value)


def _user_clients(realm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every client whose users' tokens are filled by the claims mapper, by client id."""
    return {c["clientId"]: c for c in realm["clients"] if not c["serviceAccountsEnabled"]}


def _portal_of(remote: dict[str, Any]) -> str | None:
    url = urlsplit(remote["claims.url"])
    assert url.path.endswith("/identity/v1/accounts/{subject}/claims")
    portals: list[str] = parse_qs(url.query).get("portal", [])
    assert len(portals) <= 1
    return portals[0] if portals else None


def test_every_user_client_asks_identity_for_every_claim_and_refuses_a_token_without() -> None:
    realm = _realm()
    clients = _user_clients(realm)
    assert set(clients) == {"bilet-web", "bilet-pupils", "bilet-parents"}
    for client in clients.values():
        [scope] = client["defaultClientScopes"]
        mappers = _mappers(realm, scope)
        remote = mappers["bilet-remote-claims"]
        assert set(remote["claims"].split(",")) == set(ClaimsModel.model_fields)
        assert remote["on.not.found"] == remote["on.error"] == "deny"
        assert mappers["oidc-audience-mapper"]["included.custom.audience"] == (
            PlatformSettings().jwt_audience
        )


def test_only_the_pupils_and_parents_portals_give_new_accounts_their_role() -> None:
    # An account not yet bound must get a token to redeem its code (docs/adr/0053): the claims
    # endpoint answers it the portal's role alone, and only for these two portals.
    realm = _realm()
    portals = {
        client_id: _portal_of(_mappers(realm, c["defaultClientScopes"][0])["bilet-remote-claims"])
        for client_id, c in _user_clients(realm).items()
    }
    assert portals == {
        "bilet-web": None,
        "bilet-pupils": SignUpPortal.PUPIL.value,
        "bilet-parents": SignUpPortal.GUARDIAN.value,
    }
    assert {Role(p) for p in portals.values() if p} == {Role.PUPIL, Role.GUARDIAN}


def test_access_tokens_are_short_and_accepted_by_the_services() -> None:
    realm = _realm()
    assert realm["accessTokenLifespan"] <= 300
    assert realm["accessTokenLifespan"] <= PlatformSettings().jwt_max_lifetime_seconds
