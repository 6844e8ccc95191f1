"""Who is calling: bearer JWTs checked against configured keys, and the principal they name.

Every endpoint but health, readiness and metrics requires a token whose signature verifies against
the configured JSON Web Key Set (a file, re-read when it changes, or a URL, re-fetched on an unknown
key id: both rotate keys without a restart), whose issuer and audience match and which has not
expired (with a small clock skew). Claims carry the role and the scopes handlers check objects
against: `school`, `region`, `participant` (a pupil's own id), `children` (a guardian's), `venue`
(an organiser's).
"""

import json
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bilet.http.problems import Problem

# Keys whose id starts with this were made by `bvb` for development; production refuses them.
DEVELOPMENT_KEY_PREFIX: Final = "bvb-dev-"
DEVELOPMENT_ISSUER: Final = "bilet-development"
ALGORITHMS: Final = ("EdDSA", "ES256", "RS256")


class Role(StrEnum):
    PUPIL = "pupil"
    GUARDIAN = "guardian"
    REGISTRAR = "registrar"  # the school's registrar
    NAVIGATOR = "navigator"  # педагог-навигатор
    MENTOR = "mentor"
    ORGANISER = "organiser"  # of career events, at a venue
    COORDINATOR = "coordinator"  # regional coordinator
    OPERATOR = "operator"  # federal operator
    SUPPORT = "support"
    ANALYST = "analyst"


@dataclass(frozen=True)
class Principal:
    """The caller, as the token names them. `subject` is an opaque account id, never a name."""

    subject: str
    role: Role
    school_id: str | None = None
    region_id: str | None = None
    participant_id: str | None = None
    children: frozenset[str] = field(default_factory=frozenset)
    venue_id: str | None = None
    # When the token stops being valid (its `exp`, seconds since the epoch): long-lived answers
    # such as server-sent event streams end then.
    expires_at: float | None = None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise forbidden(f"The role {self.role.value} may not do this.")


def forbidden(detail: str = "You may not access this.") -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def unauthorized(detail: str) -> Problem:
    return Problem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"}
    )


class KeySource(ABC):
    """Where signing keys come from; `key_for(kid)` answers with a key or None."""

    @abstractmethod
    def key_for(self, kid: str) -> jwt.PyJWK | None: ...

    @abstractmethod
    def key_ids(self) -> list[str]: ...


class JwksFile(KeySource):
    """A JWKS file, re-read when its modification time changes (rotation without restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    def _refresh(self) -> None:
        stamp = os.stat(self.path).st_mtime_ns
        with self._lock:
            if stamp != self._stamp:
                document = json.loads(self.path.read_text(encoding="utf-8"))
                self._keys = {
                    key.key_id: key
                    for key in jwt.PyJWKSet.from_dict(document).keys
                    if key.key_id is not None
                }
                self._stamp = stamp

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        self._refresh()
        return self._keys.get(kid)

    def key_ids(self) -> list[str]:
        self._refresh()
        return list(self._keys)


class JwksUrl(KeySource):
    """A JWKS URL (an identity provider's); PyJWT's client caches it and re-fetches on a new kid."""

    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300)

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientError:
            return None

    def key_ids(self) -> list[str]:
        return [key.key_id for key in self._client.get_signing_keys() if key.key_id]


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        production: bool = False,
    ) -> None:
        if production and issuer == DEVELOPMENT_ISSUER:
            raise ValueError("production does not accept the development issuer")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self.production = production

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise unauthorized("The token is not a JWT.") from None
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise unauthorized("The token names no signing key.")
        if self.production and kid.startswith(DEVELOPMENT_KEY_PREFIX):
            raise unauthorized("Development keys are not accepted here.")
        key = self.keys.key_for(kid)
        if key is None:
            raise unauthorized("The token's signing key is not known.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=list(ALGORITHMS),
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("The token has expired.") from None
        except jwt.InvalidTokenError as error:
            raise unauthorized(f"The token is not valid: {error}.") from None
        return principal_from_claims(claims)


def _optional_str(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise unauthorized(f"The claim {name!r} must be a non-empty string.")
    return value


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise unauthorized("The token names no known role.") from None
    children = claims.get("children", [])
    if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
        raise unauthorized("The claim 'children' must be a list of participant ids.")
    expires = claims.get("exp")
    return Principal(
        subject=str(claims["sub"]),
        role=role,
        school_id=_optional_str(claims, "school"),
        region_id=_optional_str(claims, "region"),
        participant_id=_optional_str(claims, "participant"),
        children=frozenset(children),
        venue_id=_optional_str(claims, "venue"),
        expires_at=float(expires)
        if isinstance(expires := claims.get("exp"), int | float)
        else None,
    )


_bearer = HTTPBearer(auto_error=False, description="A JWT from the platform's identity provider")


def authenticate_header(verifier: TokenVerifier, header: str | None) -> Principal:
    """The principal of an `Authorization` header value, for code outside FastAPI's dependencies
    (the request guard)."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("A bearer token is required.")
    return verifier.verify(token.strip())


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("A bearer token is required.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
