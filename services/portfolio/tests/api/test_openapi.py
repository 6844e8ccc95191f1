"""The API explains itself (handbook rule 7): `/portfolio/docs` describes every operation, and
every schema it names is defined."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bilet.http.direct import direct_routes
from bilet.http.openapi_checks import undefined_schemas, undescribed_operations

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Service


async def test_every_operation_has_a_description(service: Service) -> None:
    schema = (await service.client.get("/portfolio/openapi.json")).json()
    assert undescribed_operations(schema) == []


async def test_every_schema_the_document_names_is_defined(service: Service) -> None:
    schema = (await service.client.get("/portfolio/openapi.json")).json()
    assert undefined_schemas(schema) == set()


async def test_only_the_portfolio_read_skips_fastapis_dependency_solving(service: Service) -> None:
    # The read is the hot route (docs/adr/0098): a parameter added to it would silently put it
    # back on FastAPI's dependency solving; the others take queries or headers.
    assert direct_routes(service.app) == {
        "/v1/participants/{participant_id}": True,
        "/v1/schools/{school_id}/participants": False,
        "/v1/me/children": False,
        "/v1/participants/{participant_id}/updates": False,
    }
