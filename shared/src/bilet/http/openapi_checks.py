"""Checks of handbook rule 7 ("the API explains itself") over a service's OpenAPI document, for
the services' tests: every operation has a description, every schema the document names exists."""

import json
import re
from typing import Any, Final

SCHEMA_REF: Final = re.compile(r"#/components/schemas/([A-Za-z0-9_.-]+)")


def undescribed_operations(spec: dict[str, Any]) -> list[str]:
    """`METHOD /path` of each operation without a `description`."""
    return [
        f"{method.upper()} {path}"
        for path, item in spec.get("paths", {}).items()
        for method, operation in item.items()
        if isinstance(operation, dict) and not operation.get("description")
    ]


def undefined_schemas(spec: dict[str, Any]) -> set[str]:
    """The names a `#/components/schemas/…` reference uses that `components.schemas` lacks."""
    defined = set(spec.get("components", {}).get("schemas", {}))
    return set(SCHEMA_REF.findall(json.dumps(spec))) - defined
