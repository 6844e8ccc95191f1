"""The API explains itself (handbook rule 7): `/portfolio/docs` describes every operation, and
every schema it names is defined."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bilet.http.openapi_checks import undefined_schemas, undescribed_operations

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Service


async def test_every_operation_has_a_description(service: Service) -> None:
    schema = (await service.client.get("/portfolio/openapi.json")).json()
    assert undescribed_operations(schema) == []


async def test_every_schema_the_document_names_is_defined(service: Service) -> None:
    schema = (await service.client.get("/portfolio/openapi.json")).json()
    assert undefined_schemas(schema) == set()
