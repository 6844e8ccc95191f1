"""`bvb`: the Bilet command line. `bvb run` starts the embedded platform; `bvb audit who-read`
answers who read whose personal data; `bvb analytics export` writes pseudonymised Parquet for
analysts."""

import argparse
import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence

import uvicorn

from bilet.http import Role
from bilet.http.deadlines import http_protocol
from bilet.http.devkeys import ensure_development_keys
from bilet.logs import logging_config
from bilet.services import SERVICE_NAMES
from bilet.settings import Environment, PlatformSettings
from bilet_consent import demo as consent_demo
from bilet_events import demo_offers as events_demo
from bilet_host import analytics_cli, audit_cli
from bilet_host.embedded import EmbeddedHost, create_embedded_host
from bilet_identity import demo


def _banner(host: EmbeddedHost, base_url: str) -> str:
    lines = [f"Bilet is starting embedded at {base_url} (Ctrl-C stops it)", ""]
    width = max(len(s.name) for s in host.services)
    for service in host.services:
        lines.append(f"  {service.name:<{width}}  API docs: {base_url}{service.docs_path}")
    lines.append("")
    return "\n".join(lines)


def demo_token_claims() -> list[tuple[Role, str, dict[str, str | list[str]]]]:
    """Per role, the subject and scopes of the token `bvb run` prints for the demo data."""
    claims = []
    for role, scopes in demo.token_scopes():
        subject = f"demo-{role.value}"
        if role is Role.GUARDIAN:
            # The parent whose consents the consent service's demo data holds (two children).
            scopes = {**scopes, **consent_demo.DEMO_GUARDIAN.token_claims()}
            subject = str(consent_demo.DEMO_GUARDIAN.guardian_id)
        elif role is Role.ORGANISER:
            # The career events service's demo college: its career events and their rosters.
            scopes = {**scopes, "venue": str(events_demo.DEMO_COLLEGE)}
        elif role is Role.MENTOR:
            # The mentor of the demo college's career events (roster, attendance, feedback).
            subject = str(events_demo.DEMO_MENTOR)
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
        "Demo data: Leningrad oblast 2019 (Лужский район: МОУ «СОШ № 3», МБОУ «СОШ № 5»).",
        "Career events: the Luga college's, technopark's and farm's, this week and in 2019;",
        "the organiser token is the college's, the mentor token its career events' mentor.",
        "Development tokens (12 h; `bvb dev-token` mints more), send as `Authorization: Bearer …`:",
    ]
    width = max(len(role.value) for role in Role)
    for role, token in demo_tokens(settings).items():
        lines.append(f"  {role.value:<{width}}  {token}")
    lines.append("")
    return "\n".join(lines)


def _scope(scopes: dict[str, str | list[str]], name: str) -> str | None:
    value = scopes.get(name)
    return value if isinstance(value, str) else None


def run(args: argparse.Namespace) -> int:
    settings = PlatformSettings()
    bind_host = args.host or settings.host
    port = args.port or settings.port
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    host = create_embedded_host()
    print(_banner(host, f"http://{bind_host}:{port}"), flush=True)
    if settings.environment is Environment.DEVELOPMENT:
        print(demo_tokens_banner(settings), flush=True)
    # The same JSON lines as every service's own process (bilet.http.serve): uvicorn's loggers
    # and the services' through bilet.logs, uvicorn's access line replaced by the services'; the
    # same deadlines for slow clients' headers (bilet.http.deadlines).
    config = uvicorn.Config(
        host,
        host=bind_host,
        port=port,
        http=http_protocol(settings),
        lifespan="on",
        log_config=logging_config(),
        access_log=False,
    )
    # uvicorn shuts every service down gracefully on Ctrl-C, then re-raises it: a normal stop.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
    print("Bilet stopped.", flush=True)
    return 0


def dev_token(args: argparse.Namespace) -> int:
    settings = PlatformSettings()
    if settings.environment is not Environment.DEVELOPMENT:
        print("bvb dev-token: development tokens exist only in development", file=sys.stderr)
        return 2
    if args.hours * 3600 > settings.jwt_max_lifetime_seconds:
        print(
            f"bvb dev-token: the services refuse tokens living longer than "
            f"{settings.jwt_max_lifetime_seconds} s (BVB_JWT_MAX_LIFETIME_SECONDS)",
            file=sys.stderr,
        )
        return 2
    signer = ensure_development_keys(settings.var_dir)
    token = signer.mint(
        Role(args.role),
        subject=args.subject,
        school=args.school,
        region=args.region,
        participant=args.participant,
        children=args.child or None,
        venue=args.venue,
        ttl_seconds=args.hours * 3600,
    )
    print(token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bvb", description="Bilet platform command line")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run", help="start all six services embedded: one process, one port, SQLite under var/"
    )
    run_parser.add_argument("--host", help="address to bind (default BVB_HOST or 127.0.0.1)")
    run_parser.add_argument("--port", type=int, help="port to bind (default BVB_PORT or 8000)")
    run_parser.set_defaults(handler=run)

    token_parser = commands.add_parser(
        "dev-token", help="mint a development bearer token (signed by the key under var/)"
    )
    token_parser.add_argument("--role", required=True, choices=[role.value for role in Role])
    token_parser.add_argument("--subject", help="account id (default: a fresh dev-… id)")
    token_parser.add_argument("--school", help="school id the token is scoped to")
    token_parser.add_argument("--region", help="region id the token is scoped to")
    token_parser.add_argument("--participant", help="the pupil's own participant id")
    token_parser.add_argument(
        "--child", action="append", help="a guardian's child (participant id); repeatable"
    )
    token_parser.add_argument("--venue", help="an organiser's venue id")
    token_parser.add_argument("--hours", type=int, default=12, help="validity (default 12)")
    token_parser.set_defaults(handler=dev_token)

    audit_parser = commands.add_parser(
        "audit", help="the audit trails of personal data (`bvb audit who-read --help`)"
    )
    audit_cli.add_commands(audit_parser)

    analytics_parser = commands.add_parser(
        "analytics", help="exports for analysts (`bvb analytics export --help`)"
    )
    analytics_cli.add_commands(analytics_parser)

    for service in _services_with_commands():
        service_parser = commands.add_parser(
            service, help=f"the {service} service's own commands (`bvb {service} --help`)"
        )
        service_parser.add_argument("arguments", nargs=argparse.REMAINDER)
    return parser


def _services_with_commands() -> list[str]:
    """Services that ship a command line of their own: `bilet_<service>.cli:main(argv)`."""
    return [name for name in SERVICE_NAMES if importlib.util.find_spec(f"bilet_{name}.cli")]


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in _services_with_commands():
        # The service parses its own arguments (and answers its own --help).
        module = importlib.import_module(f"bilet_{arguments[0]}.cli")
        service_result: int = module.main(arguments[1:])
        return service_result
    args = build_parser().parse_args(arguments)
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
