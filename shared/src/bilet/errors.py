"""The error base of the services' rules: a refusal with a stable `code`, a message for people and
the details a caller may act on.

A service derives its own `DomainError` from `DomainError` here, so its API's problem handler
(`bilet.http.problems.refusal_handler`) answers exactly that service's refusals, and every refusal
class states only what is its own: the `code` (what clients branch on, the same in the API's
problem+json) and, when the message never varies, its `text`. Pure: no I/O and no framework, so
the services' domain layers may import it.
"""

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule refused a command; nothing was decided. The message never holds a personal value
    (it may end up in a log)."""

    code: str = "rule_violated"
    # The message of a refusal that always says the same (None: the caller gives it).
    text: ClassVar[str | None] = None

    def __init__(self, message: str | None = None, **details: Any) -> None:
        message = message if message is not None else self.text
        if message is None:
            raise TypeError(f"{type(self).__name__} needs a message: it has no `text`")
        super().__init__(message)
        self.message = message
        self.details = details
