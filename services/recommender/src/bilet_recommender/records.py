"""How the worker's agents read a published record from Kafka: the participant it is about (the
key both agents repartition by) and its headers in the form the kernel's decoder takes. One
module, so the insights agent does not reach into the worker for them."""

import json
from collections.abc import Sequence
from typing import Any, Final

# The repartition key of a record about no participant (a career event, a school).
NO_PARTICIPANT: Final = "-"


def participant_key(value: bytes) -> str:
    """The participant a published record is about (the repartition key); `NO_PARTICIPANT`
    for the others."""
    try:
        data = json.loads(value)
    except ValueError:
        return NO_PARTICIPANT
    found = data.get("participant_id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else NO_PARTICIPANT


def record_headers(raw: Any) -> Sequence[tuple[str, bytes]]:
    """A record's headers as pairs, whether faust hands them over as a mapping or a list."""
    return list(raw.items()) if isinstance(raw, dict) else list(raw or ())
