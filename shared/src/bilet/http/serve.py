"""`python -m bilet.http.serve [--service NAME] [--host H] [--port P]`: one service's HTTP API
under uvicorn, every line JSON (`bilet.logs`). The entry point of every service image.

The service is `--service`, else `BVB_SERVICE` (the image bakes its service in); its application
is its composition root, `bilet_<service>.app:create_app`, imported by name: the kernel depends on
no service. Exit status 2 for an unknown service.
"""

import argparse
import os
import sys

import uvicorn

from bilet.http.deadlines import http_protocol
from bilet.logs import logging_config
from bilet.services import SERVICE_NAMES
from bilet.settings import PlatformSettings

# Seconds a stopping server gives the requests under way (Kubernetes' grace period is 30).
GRACEFUL_SHUTDOWN_SECONDS = 20


def serve_api(application: str, *, host: str, port: int) -> None:
    """Serve `application` (`module:factory`) until SIGTERM or SIGINT: proxy headers trusted
    from FORWARDED_ALLOW_IPS (uvicorn's variable), uvicorn's loggers and the application's in
    JSON, uvicorn's access line off (the service frame writes one without the client's address
    or the query string), and deadlines for slow clients' request headers
    (`bilet.http.deadlines`; the request guard times their bodies)."""
    uvicorn.run(
        application,
        factory=True,
        host=host,
        port=port,
        http=http_protocol(PlatformSettings()),
        proxy_headers=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        log_config=logging_config(),
        access_log=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bilet.http.serve", description="Serve one Bilet service's HTTP API."
    )
    parser.add_argument(
        "--service",
        default=os.environ.get("BVB_SERVICE"),
        help="which service (default: BVB_SERVICE)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    args = parser.parse_args(argv)
    if args.service not in SERVICE_NAMES:
        print(
            f"bilet.http.serve: name the service (--service or BVB_SERVICE): one of "
            f"{', '.join(SERVICE_NAMES)}",
            file=sys.stderr,
        )
        return 2
    serve_api(f"bilet_{args.service}.app:create_app", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
