"""The HTTP frame every service is built in: path prefix, problem+json errors, the request guard,
bearer tokens and object-level checks, health, readiness and metrics, stable operation ids."""

from bilet.http.auth import CurrentPrincipal, Principal, Role, forbidden
from bilet.http.problems import Problem
from bilet.http.service import (
    ReadinessCheck,
    ReadinessProbe,
    ServiceDescription,
    answers,
    create_service_app,
    feed_readiness,
)

__all__ = [
    "CurrentPrincipal",
    "Principal",
    "Problem",
    "ReadinessCheck",
    "ReadinessProbe",
    "Role",
    "ServiceDescription",
    "answers",
    "create_service_app",
    "feed_readiness",
    "forbidden",
]
