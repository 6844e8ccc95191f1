"""Amendments to the OpenAPI document FastAPI generates, so that it states what the frame
enforces on every route (handbook rule 7, docs/adr/0049).

FastAPI builds the document from the routes' declarations; a rule the frame applies in front of
every route (the request guard's refusal of hostile text, 400 `invalid_text`) would have to be
repeated on every field to appear there, and would be forgotten on the next one. The amendments
run once, on the document as generated, so routes added later are covered too.
"""

from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI

from bilet.http.guard import FREE_TEXT_PATTERN
from bilet.http.query import UNKNOWN_QUERY_REFUSED

Amendment = Callable[[dict[str, Any]], dict[str, Any]]

# Every 403 an analyst gets is `outside_analytics_purpose` (`bilet.http.problems.for_the_caller`).
ANALYSTS_REFUSED: Final = (
    "An analyst refused gets the code `outside_analytics_purpose`: the role is for the "
    "pseudonymised analytics export, not for this route."
)
# What every answer carries, said once in the document's own description (`info`).
CORRELATION_ID_SENT: Final = (
    "**Every answer** carries `X-Correlation-Id`: the request's correlation id, the caller's "
    "own `X-Correlation-Id` when it is a plain token (1–100 of `A-Z a-z 0-9 . _ : -`), else a "
    "new one. Quote it to support: the service's log lines about the request carry it, and so "
    "do the events the request appended."
)
# A string with any of these says what it admits already (a format, a list, its own pattern).
_CONSTRAINED: Final = ("pattern", "format", "enum", "const", "contentMediaType")


def amend_openapi(app: FastAPI, amend: Amendment) -> None:
    """Applies `amend` to the document the app generates, once, when it is first asked for."""
    generate = app.openapi
    amended = False

    def openapi() -> dict[str, Any]:
        nonlocal amended
        if not amended:
            app.openapi_schema = amend(generate())
            amended = True
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _free_text_everywhere(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _free_text_everywhere(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "string" and not any(key in node for key in _CONSTRAINED):
        node["pattern"] = FREE_TEXT_PATTERN
    for value in node.values():
        _free_text_everywhere(value)


def _present_or_absent(parameter: dict[str, Any]) -> None:
    """An optional header's schema without FastAPI's `null` branch: a header is absent or a
    string, never `null` (a generated client would send the text "null"). What the parameter
    states beside the branches (the pattern of `BVB-Position`) applies to the string."""
    schema = parameter.get("schema", {})
    branches = schema.get("anyOf")
    if parameter.get("in") != "header" or not isinstance(branches, list):
        return
    present = [branch for branch in branches if branch.get("type") != "null"]
    if len(present) == 1 and len(branches) == 2:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        parameter["schema"] = present[0] | rest


def _say(response: dict[str, Any] | None, rule: str) -> None:
    """Adds `rule` to the response's description, once."""
    if response is not None and rule not in response.get("description", ""):
        response["description"] = f"{response.get('description', '')} {rule}"


def with_frame_rules(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with the rules the frame applies to every route: headers absent or
    strings, free text without hostile characters, and query parameters it does not list
    refused; and, in the document's description, the id every answer carries."""
    info = spec.setdefault("info", {})
    said = info.get("description", "")
    if CORRELATION_ID_SENT not in said:
        info["description"] = f"{said}\n\n{CORRELATION_ID_SENT}".strip()
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                for parameter in operation.get("parameters", []):
                    _present_or_absent(parameter)
                responses = operation.get("responses", {})
                _say(responses.get("403"), ANALYSTS_REFUSED)
                _say(responses.get("400"), UNKNOWN_QUERY_REFUSED)
    return with_free_text_patterns(spec)


def with_free_text_patterns(spec: dict[str, Any]) -> dict[str, Any]:
    """Every string of a request (a parameter, a body, a schema they name) that states no
    pattern, format or list of values gets the guard's: no control, direction or invisible
    format character (else 400 `invalid_text`)."""
    _free_text_everywhere(spec.get("components", {}).get("schemas", {}))
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                _free_text_everywhere(operation.get("parameters", []))
                # The guard reads JSON bodies only: an upload (a CSV, a PDF) is the route's.
                body = operation.get("requestBody", {}).get("content", {})
                _free_text_everywhere(body.get("application/json", {}))
    return spec
