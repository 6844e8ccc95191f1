"""The API explains itself (handbook rule 7): `/diagnostics/docs` describes every operation,
every schema it names is defined, and every refusal code a route gives is in its description.
The answer save, a direct route answering a `Response`, is documented as FastAPI documents it
answering its model (ADR 0112)."""

from __future__ import annotations

import functools
import inspect
import json
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from bilet.http.direct import DirectRoute, direct_routes
from bilet.http.openapi_checks import (
    check_refusals,
    undefined_schemas,
    undescribed_operations,
)
from bilet_diagnostics.api.models import AnswerModel
from bilet_diagnostics.api.problems import CODES
from bilet_diagnostics.api.routes import attempts

if TYPE_CHECKING:
    from services.diagnostics.tests.conftest import Api


async def test_every_operation_has_a_description(api: Api) -> None:
    schema = (await api.client.get("/diagnostics/openapi.json")).json()
    assert undescribed_operations(schema) == []
    assert undefined_schemas(schema) == set()


async def test_every_refusal_a_description_names_is_listed_with_its_status(api: Api) -> None:
    schema = (await api.client.get("/diagnostics/openapi.json")).json()
    # The progress route answers an unknown school itself (a `Problem`, not a rule's refusal).
    answered = {**CODES.status, "unknown_school": 404}
    found = check_refusals(schema, prefix="/diagnostics/v1/", status_of=answered, sections=())
    assert found.problems == []
    assert found.codes >= 35


async def test_the_request_constraints_are_in_the_schema(api: Api) -> None:
    schema = (await api.client.get("/diagnostics/openapi.json")).json()
    answer = schema["paths"]["/diagnostics/v1/attempts/{attempt_id}/answers/{item_id}"]["put"]
    item_id = next(p for p in answer["parameters"] if p["name"] == "item_id")
    assert item_id["schema"]["pattern"]
    body = schema["components"]["schemas"]["SaveAnswerRequest"]
    assert body["properties"]["option_id"]["pattern"]
    assert body["additionalProperties"] is False
    assert CODES.status["attempt_in_progress"] == 409


def _save_route() -> DirectRoute:
    return next(
        route
        for route in attempts.router.routes
        if isinstance(route, DirectRoute) and route.name == "save_answer"
    )


def _document(route: APIRoute) -> dict[str, Any]:
    return get_openapi(title="diagnostics", version="1", routes=[route])


async def test_the_direct_answer_save_is_documented_as_fastapi_documents_its_model() -> None:
    # The save answers a `Response` (`model_response`) and names its model with
    # `response_model=`; on a plain `APIRoute`, answering `AnswerModel` as it did before it was
    # direct, FastAPI must give the same operation and schemas (docs/adr/0112, decision 3).
    save = _save_route()
    assert save.direct
    signature = inspect.signature(save.endpoint, eval_str=True)

    @functools.wraps(save.endpoint)
    async def answering_its_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("only documented")

    answering_its_model.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=AnswerModel
    )
    plain = APIRoute(
        save.path,
        answering_its_model,
        methods=save.methods,
        name=save.name,
        summary=save.summary,
        responses=save.responses,
        tags=save.tags,
    )

    assert type(plain) is APIRoute
    assert plain.response_model is AnswerModel
    documented = _document(save)
    assert documented == _document(plain)
    operation = documented["paths"][save.path]["put"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AnswerModel"
    }


async def test_the_direct_answer_save_answers_its_documented_model(api: Api) -> None:
    # FastAPI validates what an endpoint returns against its `response_model`; a direct route
    # answers `model_response`'s bytes, which nothing validates: this does, for a save that
    # records and one that records nothing (docs/adr/0112).
    save = _save_route()
    adapter = TypeAdapter(save.response_model)
    attempt = await api.started()
    item = attempt["items"][0]

    for recorded in (True, False):
        answered = await api.answer(
            attempt["attempt_id"], item["item_id"], item["choices"][0]["option_id"]
        )

        assert answered.status_code == (save.status_code or 200)
        assert answered.headers["content-type"] == "application/json"
        model = adapter.validate_json(answered.content, strict=True)
        assert model.recorded is recorded
        assert json.loads(adapter.dump_json(model, by_alias=True)) == answered.json()


async def test_only_the_answer_save_is_called_directly(api: Api) -> None:
    # A parameter added to the save (or a model answered instead of a `Response`) would make it
    # FastAPI's again: seen here, not only slower (docs/adr/0112).
    assert direct_routes(api.app) == {
        "/v1/attempts": False,
        "/v1/attempts/{attempt_id}": False,
        "/v1/attempts/{attempt_id}/answers/{item_id}": True,
        "/v1/attempts/{attempt_id}/complete": False,
    }
