"""Building a published event from what a caller typed: the event's own constraints (patterns,
lengths, closed lists) are the rules, and a violation is a typed refusal, never a crash."""

from typing import Any, TypeVar

from pydantic import ValidationError

from bilet.contracts import DomainEvent
from bilet_identity.domain.errors import InvalidDetails

_E = TypeVar("_E", bound=DomainEvent)


def build(event_class: type[_E], **fields: Any) -> _E:
    try:
        return event_class(**fields)
    except ValidationError as error:
        problem = error.errors(include_url=False, include_input=False, include_context=False)[0]
        field = ".".join(str(part) for part in problem["loc"]) or "request"
        raise InvalidDetails(field, f"{field}: {problem['msg']}") from None
