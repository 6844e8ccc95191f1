"""A request's correlation id: the caller's `X-Correlation-Id` when it is a plain token, else a new
one. Apart from `bilet.http.context` so that the service frame's request logging needs nothing of
the application layer (which itself imports the HTTP kit's principal)."""

import re
import uuid
from typing import Final

CORRELATION_HEADER: Final = "x-correlation-id"
# What a caller's correlation id may be: it is logged and stored in event metadata.
_CORRELATION: Final = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def correlation_id_of(given: str | None) -> str:
    """`given` (an `X-Correlation-Id`) when it is a plain token, else a new one."""
    return given if given is not None and _CORRELATION.match(given) else str(uuid.uuid4())
