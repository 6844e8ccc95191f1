"""The API explains itself (handbook rule 7): `/portfolio/docs` describes every operation, and
every schema it names is defined."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Service


async def test_every_operation_has_a_description(service: Service) -> None:
    schema = (await service.client.get("/portfolio/openapi.json")).json()
    bare = [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and not operation.get("description")
    ]
    assert bare == []


async def test_every_schema_the_document_names_is_defined(service: Service) -> None:
    schema = (await service.client.get("/portfolio/openapi.json")).json()
    named = set(re.findall(r"#/components/schemas/(\w+)", json.dumps(schema)))
    assert named - set(schema["components"]["schemas"]) == set()
