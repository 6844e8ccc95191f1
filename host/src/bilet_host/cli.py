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

from bilet import migrate
from bilet.http import Role
from bilet.http.deadlines import http_protocol
from bilet.logs import logging_config
from bilet.services import SERVICE_NAMES
from bilet.settings import Environment, PlatformSettings
from bilet_host import analytics_cli, audit_cli, simulate_cli
from bilet_host.embedded import EmbeddedHost, create_embedded_host
from bilet_host.readiness import announce_when_ready, connect_url
from bilet_host.tokens import TokenRefused, TokenRequest, checked, mint

# Where the end-to-end tests have always found the demo tokens.
from bilet_host.tokens import demo_tokens as demo_tokens
from bilet_host.tokens import demo_tokens_banner as demo_tokens_banner


def _banner(host: EmbeddedHost, base_url: str) -> str:
    lines = [f"Bilet is starting embedded at {base_url} (Ctrl-C stops it)", ""]
    width = max(len(s.name) for s in host.services)
    for service in host.services:
        lines.append(f"  {service.name:<{width}}  API docs: {base_url}{service.docs_path}")
    lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = PlatformSettings()
    bind_host = args.host or settings.host
    port = args.port or settings.port
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    host = create_embedded_host()
    print(_banner(host, f"http://{bind_host}:{port}"), flush=True)
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
    server = uvicorn.Server(config)
    if settings.environment is Environment.DEVELOPMENT:
        # The tokens only once every service answers its readiness: a token printed works now.
        announce_when_ready(
            connect_url(bind_host, port),
            [service.name for service in host.services],
            started=lambda: server.started,
            stopped=lambda: server.should_exit,
            announce=lambda: print(demo_tokens_banner(settings), flush=True),
        )
    # uvicorn shuts every service down gracefully on Ctrl-C, then re-raises it: a normal stop.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    print("Bilet stopped.", flush=True)
    return 0


def dev_token(args: argparse.Namespace) -> int:
    settings = PlatformSettings()
    if settings.environment is not Environment.DEVELOPMENT:
        print("bvb dev-token: development tokens exist only in development", file=sys.stderr)
        return 2
    request = TokenRequest(
        Role(args.role),
        subject=args.subject,
        school=args.school,
        region=args.region,
        participant=args.participant,
        children=tuple(args.child or ()),
        venue=args.venue,
        hours=args.hours,
        sign_up=args.sign_up,
    )
    try:
        request = checked(request, settings.jwt_max_lifetime_seconds)
    except TokenRefused as refusal:
        print(f"bvb dev-token: {refusal}", file=sys.stderr)
        return 2
    print(mint(settings, request))
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
    token_parser.add_argument(
        "--sign-up",
        action="store_true",
        help="a pupil's or guardian's new account, not yet bound: its role alone, to redeem a code",
    )
    token_parser.set_defaults(handler=dev_token)

    audit_parser = commands.add_parser(
        "audit", help="the audit trails of personal data (`bvb audit who-read --help`)"
    )
    audit_cli.add_commands(audit_parser)

    analytics_parser = commands.add_parser(
        "analytics", help="exports for analysts (`bvb analytics export --help`)"
    )
    analytics_cli.add_commands(analytics_parser)
    simulate_parser = commands.add_parser(
        "simulate", help="a synthetic season in the stores (`bvb simulate season --help`)"
    )
    simulate_cli.add_commands(simulate_parser)

    migrate_parser = commands.add_parser(
        "migrate",
        help="make the services' PostgreSQL schemas as a DDL role (`bvb migrate --help`)",
        description=migrate.DESCRIPTION,
    )
    migrate.add_arguments(migrate_parser)
    migrate_parser.set_defaults(handler=migrate.run)

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
