"""The Keycloak reference (deploy/keycloak, docs/adr/0052) stays true to the services: its
provider client's tokens carry the role the claims endpoint answers, its mapper copies every
claim the endpoint returns, and its access tokens live less than the services accept."""

import json
from pathlib import Path
from typing import Any

from bilet.http import Role
from bilet.settings import PlatformSettings
from bilet_identity.access.routes import ClaimsModel

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


def test_the_mapper_asks_identity_for_every_claim_and_refuses_a_token_without() -> None:
    mappers = _mappers(_realm(), "bilet-claims")
    remote = mappers["bilet-remote-claims"]
    assert remote["claims.url"].endswith("/identity/v1/accounts/{subject}/claims")
    assert set(remote["claims"].split(",")) == set(ClaimsModel.model_fields)
    assert remote["on.not.found"] == remote["on.error"] == "deny"
    assert mappers["oidc-audience-mapper"]["included.custom.audience"] == (
        PlatformSettings().jwt_audience
    )


def test_access_tokens_are_short_and_accepted_by_the_services() -> None:
    realm = _realm()
    assert realm["accessTokenLifespan"] <= 300
    assert realm["accessTokenLifespan"] <= PlatformSettings().jwt_max_lifetime_seconds
