"""Development tokens: the demo tokens `bvb run` prints, and what `bvb dev-token` checks before it
mints one, so that no token leaves it that the services would refuse or that could open nothing.

A role's token works only with the scope its role is checked against (a navigator's school, a
pupil's own participant id, …: `bilet.http.auth`), and the services compare those scopes with ids
written as canonical UUIDs. A token without its scope, with an id that is no UUID, or living
no time or longer than the services accept is refused with what to pass instead.
"""

import uuid
from dataclasses import dataclass, replace
from typing import Final

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.settings import PlatformSettings
from bilet_consent import demo as consent_demo
from bilet_identity.access import demo_codes, demo_grants

# The scope (a `bvb dev-token` option) a role's token needs to reach anything.
REQUIRED_SCOPE: Final[dict[Role, str]] = {
    Role.PUPIL: "participant",
    Role.GUARDIAN: "child",
    Role.REGISTRAR: "school",
    Role.NAVIGATOR: "school",
    Role.COORDINATOR: "region",
    Role.ORGANISER: "venue",
}
_WHAT: Final[dict[str, str]] = {
    "participant": "the pupil's own participant id",
    "child": "a child's participant id (repeatable)",
    "school": "the school's id",
    "region": "the region's id",
    "venue": "the venue's id",
}
MAX_SUBJECT_LENGTH: Final = 200


class TokenRefused(ValueError):
    """A token that could not work; the message says why and what to pass."""


@dataclass(frozen=True)
class TokenRequest:
    role: Role
    subject: str | None = None
    school: str | None = None
    region: str | None = None
    participant: str | None = None
    children: tuple[str, ...] = ()
    venue: str | None = None
    hours: int = 12
    # A new pupil's or guardian's account before its binding (docs/adr/0053): its role alone,
    # as the claims endpoint answers a sign-up portal's account; good only to redeem a code.
    sign_up: bool = False


def checked(request: TokenRequest, max_lifetime_seconds: int) -> TokenRequest:
    """The request with its ids in canonical form, or `TokenRefused`."""
    role = request.role
    if request.hours <= 0:
        raise TokenRefused(f"--hours must be at least 1 (got {request.hours})")
    if request.hours * 3600 > max_lifetime_seconds:
        raise TokenRefused(
            f"the services refuse tokens living longer than {max_lifetime_seconds} s "
            f"(BVB_JWT_MAX_LIFETIME_SECONDS): --hours at most {max_lifetime_seconds // 3600}"
        )
    ids = {
        "school": _canonical("school", request.school),
        "region": _canonical("region", request.region),
        "participant": _canonical("participant", request.participant),
        "venue": _canonical("venue", request.venue),
    }
    children = tuple(str(_canonical("child", child)) for child in request.children)
    if request.sign_up:
        if role not in (Role.PUPIL, Role.GUARDIAN):
            raise TokenRefused("--sign-up is for a pupil's or a guardian's new account only")
        if request.participant or request.children:
            raise TokenRefused("--sign-up is an account not yet bound: no --participant, --child")
    needed = None if request.sign_up else REQUIRED_SCOPE.get(role)
    present = bool(children) if needed == "child" else needed is not None and bool(ids[needed])
    if needed is not None and not present:
        raise TokenRefused(
            f"a {role.value}'s token needs --{needed} ({_WHAT[needed]}): without it the "
            "services would let it see nothing"
        )
    return replace(
        request,
        subject=_subject(role, request.subject),
        school=ids["school"],
        region=ids["region"],
        participant=ids["participant"],
        venue=ids["venue"],
        children=children,
    )


def _canonical(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise TokenRefused(
            f"--{option} {value!r} is not an id: the services' ids are UUIDs "
            "(e.g. 3f2b1c9e-8d7a-4b6c-9e1f-0a2b3c4d5e6f)"
        ) from None


def _subject(role: Role, subject: str | None) -> str:
    if role is Role.MENTOR:
        # The career events service reads a mentor's account id as the mentor's id (a UUID).
        if subject is None:
            return str(uuid.uuid4())
        try:
            return str(uuid.UUID(subject))
        except ValueError:
            raise TokenRefused(
                f"--subject {subject!r}: a mentor's account id is their mentor id, a UUID"
            ) from None
    if subject is None:
        return f"dev-{role.value}-{uuid.uuid4().hex[:8]}"
    if not subject.strip() or subject != subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        raise TokenRefused(
            f"--subject must be a non-empty account id without surrounding spaces, "
            f"at most {MAX_SUBJECT_LENGTH} characters"
        )
    return subject


def mint(settings: PlatformSettings, request: TokenRequest) -> str:
    """A token for a request already `checked`, signed by the development key under var/."""
    signer = ensure_development_keys(settings.var_dir)
    return signer.mint(
        request.role,
        subject=request.subject,
        school=request.school,
        region=request.region,
        participant=request.participant,
        children=list(request.children) or None,
        venue=request.venue,
        ttl_seconds=request.hours * 3600,
    )


def demo_token_claims() -> list[tuple[Role, str, dict[str, str | list[str]]]]:
    """Per role, the subject and scopes of the token `bvb run` prints for the demo data: the
    claims identity's claims endpoint gives the demo accounts, composed from the demo's grants
    (`bilet_identity.access.demo_grants`), as an identity provider would put them in a token."""
    claims = []
    for role, subject, composed in demo_grants.demo_claims():
        scopes = demo_grants.scopes_of(composed)
        if role is Role.GUARDIAN:
            # The parent whose consents the consent service's demo data holds (two children).
            scopes = {**scopes, **consent_demo.DEMO_GUARDIAN.token_claims()}
            subject = str(consent_demo.DEMO_GUARDIAN.guardian_id)
        claims.append((role, subject, scopes))
    return claims


def demo_tokens(settings: PlatformSettings) -> dict[Role, str]:
    """A ready bearer token per role, scoped to the demo data, signed by the development key
    under `settings.var_dir`."""
    signer = ensure_development_keys(settings.var_dir)
    tokens = {}
    for role, subject, scopes in demo_token_claims():
        children = scopes.get("children")
        tokens[role] = signer.mint(
            role,
            subject=subject,
            school=_scope(scopes, "school"),
            region=_scope(scopes, "region"),
            participant=_scope(scopes, "participant"),
            children=list(children) if isinstance(children, list) else None,
            venue=_scope(scopes, "venue"),
        )
    return tokens


def demo_tokens_banner(settings: PlatformSettings) -> str:
    """A ready bearer token per role, scoped to the demo data (Leningrad oblast 2019)."""
    lines = [
        "Every service is ready.",
        "Demo data: Leningrad oblast 2019 (Лужский район: МОУ «СОШ № 3», МБОУ «СОШ № 5»).",
        "Career events: the Luga college's, technopark's and farm's, this week and in 2019;",
        "the organiser token is the college's, the mentor token its career events' mentor.",
        "Development tokens (12 h; `bvb dev-token` mints more), send as `Authorization: Bearer …`:",
    ]
    width = max(len(role.value) for role in Role if role not in demo_grants.NOT_PRINTED)
    for role, token in demo_tokens(settings).items():
        lines.append(f"  {role.value:<{width}}  {token}")
    subject = demo_codes.NEW_PUPIL_SUBJECT
    # Not indented: the indented lines are `role token` pairs, which scripts and tests parse.
    code = demo_codes.DEMO_PUPIL_CODE
    lines += [
        f"A pupil's binding code (pupil {demo_codes.DEMO_CODE_PUPIL}, once): {code}",
        f"redeem it as a new account: bvb dev-token --role pupil --sign-up --subject {subject},",
        'then POST /identity/v1/binding-codes/redemption {"code": "' + code + '"} (ADR 0053).',
        "",
    ]
    return "\n".join(lines)


def _scope(scopes: dict[str, str | list[str]], name: str) -> str | None:
    value = scopes.get(name)
    return value if isinstance(value, str) else None
