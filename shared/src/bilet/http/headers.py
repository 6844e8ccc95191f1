"""Request headers a route reads itself, still stated in its OpenAPI document.

FastAPI resolves a header parameter (`Header(...)`) on every request through its generic
machinery: the alias lookup, the annotation's inspection, a pydantic validation of a string. For
an optional string with a length bound that is ~10 µs a header — more than the whole of a 304 of
the portfolio's own work (docs/adr/0086). A `HeaderParameter` is the same parameter read from
`request.headers` (the `Headers` the bearer dependency already built) and checked by its length
alone; `documented` puts it in the operation's parameters (`openapi_extra`), in the form FastAPI
would have given an optional header after the frame's amendments (`bilet.http.document`), and
an over-long value is the same 422 `invalid_request` with the same `errors` entry.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError


@dataclass(frozen=True, slots=True)
class HeaderParameter:
    """An optional request header: `name` as the document names it (and as FastAPI names it in a
    validation error's `loc`), at most `max_length` characters; `pattern` is stated in the
    document, not validated (a route that parses the value refuses it in its own words)."""

    name: str
    max_length: int
    description: str | None = None
    pattern: str | None = None

    def openapi(self) -> dict[str, Any]:
        """The parameter object (a fresh one: the frame's amendments edit the document)."""
        schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.description is not None:
            schema["description"] = self.description
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        # FastAPI's title of a header parameter: its name, title-cased.
        schema["title"] = self.name.title()
        parameter: dict[str, Any] = {
            "name": self.name,
            "in": "header",
            "required": False,
            "schema": schema,
        }
        if self.description is not None:
            parameter["description"] = self.description
        return parameter

    def error(self, value: str) -> dict[str, Any] | None:
        """FastAPI's validation error of `value` (pydantic's `string_too_long`), None when it is
        not too long."""
        if len(value) <= self.max_length:
            return None
        return {
            "type": "string_too_long",
            "loc": ("header", self.name),
            "msg": f"String should have at most {self.max_length} characters",
            "input": value,
            "ctx": {"max_length": self.max_length},
        }


def documented(*parameters: HeaderParameter) -> dict[str, Any]:
    """The route's `openapi_extra`: FastAPI appends these to the parameters it generates."""
    return {"parameters": [parameter.openapi() for parameter in parameters]}


def read_headers(headers: Mapping[str, str], *parameters: HeaderParameter) -> list[str | None]:
    """Each parameter's value (the first, when a header is repeated, as FastAPI reads it; None
    when absent) from the request's `headers`; a 422 listing every value that is too long."""
    values = [headers.get(parameter.name) for parameter in parameters]
    errors = [
        error
        for parameter, value in zip(parameters, values, strict=True)
        if value is not None and (error := parameter.error(value)) is not None
    ]
    if errors:
        raise RequestValidationError(errors)
    return values
