"""The API explains itself (handbook rule 7): a frontend team reading only `/identity/docs`
learns, for every operation, who may call it and the refusals it can answer with — and every
status a description names is one the operation documents a response for."""

import re
from typing import Any

import pytest

from bilet.http.openapi_checks import undefined_schemas, undescribed_operations
from bilet_identity.app import create_app

# The probes come from the shared service frame (`bilet.http`), not from this service's routes.
PROBES = ("/healthz", "/readyz", "/metrics")
_STATUS = re.compile(r"\b([45][0-9]{2})\b")


def _operations() -> list[tuple[str, dict[str, Any]]]:
    spec = create_app().openapi()
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and not path.endswith(PROBES)
    ]


OPERATIONS = _operations()


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_each_operation_says_who_may_call_it_and_how_it_refuses(
    name: str, operation: dict[str, Any]
) -> None:
    description = operation.get("description") or ""
    assert "**Who" in description, f"{name}: no word on who may call it"
    assert "**Refusals" in description, f"{name}: no word on its refusals"
    named = set(_STATUS.findall(description.split("**Refusals", 1)[1]))
    documented = {str(status) for status in operation["responses"]}
    assert named <= documented, f"{name}: names statuses it does not document: {named - documented}"


def test_every_operation_is_described_and_every_schema_it_names_is_defined() -> None:
    # The same shared checks consent's and portfolio's documents pass (probes included).
    spec = create_app().openapi()
    assert undescribed_operations(spec) == []
    assert undefined_schemas(spec) == set()
