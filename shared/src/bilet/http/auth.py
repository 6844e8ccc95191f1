"""Who is calling: bearer JWTs checked against configured keys, and the principal they name.

Every endpoint but health, readiness and metrics requires a token whose signature verifies against
the configured JSON Web Key Set (`bilet.http.jwks`: a file or an identity provider's URL, both
rotating keys without a restart), whose issuer and audience match and which has not expired (with
a small clock skew). Claims carry the role and the scopes handlers check objects
against: `school`, `region`, `participant` (a pupil's own id), `children` (a guardian's), `venue`
(an organiser's).

A token's times (`exp`, `iat`, `nbf`) must be JSON numbers: PyJWT would read a string `"exp"` as
well, and then code that reads the claim itself (the principal's `expires_at`, which ends event
streams) would not. A token's lifetime (`exp - iat`) is bounded (`BVB_JWT_MAX_LIFETIME_SECONDS`): a
token valid for years is as good as a stolen password.
"""

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Final

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from bilet.http.jwks import KeySource
from bilet.http.problems import Problem

# Keys whose id starts with this were made by `bvb` for development; production refuses them.
DEVELOPMENT_KEY_PREFIX: Final = "bvb-dev-"
DEVELOPMENT_ISSUER: Final = "bilet-development"
ALGORITHMS: Final = ("EdDSA", "ES256", "RS256")
# Tokens verified lately, by their exact text: a client sends the same token with every request,
# and verifying its signature again costs far more than answering many requests does.
VERIFIED_TOKENS: Final = 4096
VERIFIED_FOR_SECONDS: Final = 60.0
# The longest a token may be valid, from its issue to its expiry (the development tokens' 12 h).
DEFAULT_MAX_TOKEN_LIFETIME: Final = 12 * 3600
_TIME_CLAIMS: Final = ("exp", "iat", "nbf")


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
    # The platform's identity provider as a client: it asks identity for the claims of the
    # accounts it issues tokens to (docs/adr/0052), and may do nothing else.
    IDENTITY_PROVIDER = "identity_provider"


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


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    kid: str
    key: jwt.PyJWK
    until: float  # time.time() from which the token is verified again (or refused)


class TokenVerifier:
    """Verifies bearer tokens; remembers the principal of each token it verified lately (a
    bounded, least recently used set, by the token's exact text) until the token expires, at
    most `VERIFIED_FOR_SECONDS`, and only while the key set still holds the very key that
    verified it: a rotated or withdrawn key ends the trust in every token it signed."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        max_lifetime_seconds: int = DEFAULT_MAX_TOKEN_LIFETIME,
        production: bool = False,
        remember: int = VERIFIED_TOKENS,
        remember_seconds: float = VERIFIED_FOR_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if production and issuer == DEVELOPMENT_ISSUER:
            raise ValueError("production does not accept the development issuer")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self.max_lifetime = max_lifetime_seconds
        self.production = production
        self._remember = remember
        self._remember_seconds = remember_seconds
        self._clock = clock
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    def remembered(self, token: str) -> Principal | None:
        """The principal of `token` when it was verified lately and is still valid: not expired,
        its key still the one the key set holds. None: verify it (`verify`)."""
        with self._lock:  # one hold per request: every request of a known token comes here
            entry = self._verified.get(token)
            if entry is None:
                return None
            if self._clock() >= entry.until:
                del self._verified[token]
                return None
            self._verified.move_to_end(token)
        if self.keys.key_for(entry.kid) is not entry.key:
            # The key set changed: whatever it verified is verified again.
            self.forget()
            return None
        return entry.principal

    def forget(self) -> None:
        """Drop every remembered token (the key set changed)."""
        with self._lock:
            self._verified.clear()

    def verify(self, token: str) -> Principal:
        """The principal of `token` from the keys the source holds now (a file's, or a URL's
        last fetch): for callers off the event loop. Requests use `authenticate`."""
        principal = self.remembered(token)
        if principal is not None:
            return principal
        return self._verify_and_remember(token, self._signing_key_id(token))

    async def authenticate(self, token: str) -> Principal:
        """The principal of `token`; the key source first brings its keys up to date for the
        token's key id (a URL's fetch, never blocking the event loop: 503 when it fails)."""
        principal = self.remembered(token)
        if principal is not None:
            return principal
        kid = self._signing_key_id(token)
        await self.keys.load(kid)
        return self._verify_and_remember(token, kid)

    def _verify_and_remember(self, token: str, kid: str) -> Principal:
        key, principal = self._verify(token, kid)
        expires = principal.expires_at
        if self._remember > 0 and expires is not None:
            # PyJWT refuses a token once `exp <= now - leeway`.
            until = min(expires + self.leeway, self._clock() + self._remember_seconds)
            with self._lock:
                self._verified[token] = _Verified(principal, kid, key, until)
                self._verified.move_to_end(token)
                while len(self._verified) > self._remember:
                    self._verified.popitem(last=False)
        return principal

    def _signing_key_id(self, token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise unauthorized("The token is not a JWT.") from None
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise unauthorized("The token names no signing key.")
        if self.production and kid.startswith(DEVELOPMENT_KEY_PREFIX):
            raise unauthorized("Development keys are not accepted here.")
        return kid

    def _verify(self, token: str, kid: str) -> tuple[jwt.PyJWK, Principal]:
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
        self._check_lifetime(claims)
        return key, principal_from_claims(claims)

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """Refuse times that are not finite JSON numbers, and a lifetime over the maximum."""
        for name in _TIME_CLAIMS:
            value = claims.get(name)
            if name in claims and not _is_finite_number(value):
                raise unauthorized(f"The claim {name!r} must be a number of seconds.")
        issued = claims.get("iat")
        # `iat` is required; were it not, what is left of the token's life would be bounded.
        start = float(issued) if issued is not None else self._clock()
        if float(claims["exp"]) - start > self.max_lifetime:
            raise unauthorized(
                f"The token's lifetime exceeds the maximum of {self.max_lifetime} seconds."
            )


def _is_finite_number(value: object) -> bool:
    # JSON `true` decodes to a Python int subclass; PyJWT's JSON decoder accepts `1e400` (inf)
    # and integers of any length (10**400 is no float).
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


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


async def authenticate_header(verifier: TokenVerifier, header: str | None) -> Principal:
    """The principal of an `Authorization` header value, for code outside FastAPI's dependencies
    (the request guard)."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("A bearer token is required.")
    return await verifier.authenticate(token.strip())


class BearerPrincipal(HTTPBearer):
    """The caller's principal, from the bearer token of the request: a security scheme in the
    OpenAPI document (named `HTTPBearer`), resolved as one dependency and on the event loop (a
    plain function would be handed to a worker thread and back with every request; no key source
    blocks the loop)."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return await self.principal_of(request)

    async def principal_of(self, request: Request) -> Principal:
        """The request's principal: a bearer token is required and must verify (401)."""
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("A bearer token is required.")
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = await verifier.authenticate(token)
        # For the refusal handlers: an analyst's 403 names the purpose their role is for.
        request.state.principal = principal
        return principal


current_principal: Final = BearerPrincipal(
    auto_error=False,
    scheme_name="HTTPBearer",
    description="A JWT from the platform's identity provider",
)

CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
