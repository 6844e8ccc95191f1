"""A `DirectRoute` answers exactly what FastAPI's handler answers: each case asks the same
endpoint declared on a plain router and on a direct one, in the same app, and compares status,
headers that matter and body — valid and invalid paths (every form of UUID pydantic reads, and
texts it refuses, constrained strings), no token, a bad one, an expired one, both a bad path and
no token; JSON bodies valid and not (not JSON, empty, another media type, refused by the model),
with and without a token."""

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from bilet.application.context import RequestContext
from bilet.http import ServiceDescription, create_service_app
from bilet.http.auth import CurrentPrincipal, Principal, Role
from bilet.http.context import Context, request_context
from bilet.http.devkeys import DevelopmentSigner
from bilet.http.direct import DIRECT_BODY_MAX, DirectRoute, direct_routes, model_response
from bilet.settings import PlatformSettings

from .conftest import ServeRouter

THING = "3f2b8c1e-7a4d-4e2b-9c1f-0a1b2c3d4e5f"


def answer(kind: str, thing_id: object, context: RequestContext, request: Request) -> Response:
    return JSONResponse(
        {
            "kind": kind,
            "thing": repr(thing_id),
            "subject": context.principal.subject,
            "correlation_id": context.correlation_id,
            "path": request.url.path,
        }
    )


CODE = "^[a-z0-9_]{1,8}$"
Code = Annotated[str, Path(pattern=CODE)]
# Each call of `_looked_up` (a request-only dependency, as a service in the app's state): its path.
looked_up: list[str] = []


async def _looked_up(request: Request) -> str:
    looked_up.append(request.url.path)
    return "looked-up"


LookedUp = Annotated[str, Depends(_looked_up)]


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    option_id: str = Field(pattern=CODE)
    weight: int = 1


class Chosen(BaseModel):
    thing: str
    code: str
    option_id: str
    weight: int
    subject: str
    service: str


def declare(router: APIRouter) -> None:
    @router.get("/things/{thing_id}")
    async def thing(thing_id: UUID, request: Request, context: Context) -> Response:
        return answer("uuid", thing_id, context, request)

    @router.get("/names/{name}")
    async def named(name: str, context: Context, request: Request) -> Response:
        return answer("str", name, context, request)

    @router.get("/principal/{thing_id}")
    async def principal(thing_id: UUID, who: CurrentPrincipal) -> Response:
        return JSONResponse({"thing": str(thing_id), "subject": who.subject})

    @router.get("/codes/{code}")
    async def coded(code: Code, context: Context, request: Request) -> Response:
        return answer("code", code, context, request)

    @router.put("/things/{thing_id}/choices/{code}", response_model=Chosen)
    async def choose(
        thing_id: UUID,
        code: Code,
        body: Choice,
        service: LookedUp,
        again: LookedUp,  # FastAPI calls it once per request: so must the direct route
        context: Context,
    ) -> Response:
        assert again == service
        chosen = Chosen(
            thing=str(thing_id),
            code=code,
            option_id=body.option_id,
            weight=body.weight,
            subject=context.principal.subject,
            service=service,
        )
        return model_response(chosen)

    @router.put("/models/{thing_id}")
    async def model(thing_id: UUID, body: Choice, context: Context) -> Chosen:
        # FastAPI serialises the model: what `model_response` must give byte for byte.
        return Chosen(
            thing=str(thing_id),
            code="-",
            option_id=body.option_id,
            weight=body.weight,
            subject=context.principal.subject,
            service="-",
        )


plain = APIRouter(prefix="/plain")
direct = APIRouter(prefix="/direct", route_class=DirectRoute)
declare(plain)
declare(direct)
both = APIRouter(prefix="/v1")
both.include_router(plain)
both.include_router(direct)


@pytest.fixture
async def client(serve_router: ServeRouter) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_router(both, "probe") as client:
        yield client


async def ask_both(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    headers = {"X-Correlation-Id": "same-for-both", **headers}
    theirs = await client.get(f"/probe/v1/plain{path}", headers=headers)
    ours = await client.get(f"/probe/v1/direct{path}", headers=headers)
    return theirs, ours


def same(theirs: httpx.Response, ours: httpx.Response) -> None:
    assert ours.status_code == theirs.status_code
    for name in ("content-type", "www-authenticate"):
        assert ours.headers.get(name) == theirs.headers.get(name)
    body, expected = ours.json(), theirs.json()
    if isinstance(body, dict) and "path" in body:  # the only difference: where it was asked
        assert body.pop("path").replace("/direct/", "/plain/") == expected.pop("path")
    if isinstance(body, dict) and "instance" in body:
        assert body.pop("instance").replace("/direct/", "/plain/") == expected.pop("instance")
    if isinstance(body, dict) and "errors" in body:
        for error in body["errors"]:
            error.pop("url", None)
        for error in expected["errors"]:
            error.pop("url", None)
    assert body == expected


PATHS = [
    f"/things/{THING}",  # canonical: the direct path
    f"/things/{THING.upper()}",  # FastAPI's: pydantic reads it
    f"/things/{THING.replace('-', '')}",
    f"/things/{{{THING}}}",
    f"/things/urn:uuid:{THING}",
    f"/things/{THING[:-1]}",
    "/things/not-a-uuid",
    f"/things/{THING}0",
    "/names/anything",
    "/names/%D0%98%D0%B2%D0%B0%D0%BD",
    f"/principal/{THING}",
    "/principal/nope",
    "/codes/abc_1",
    "/codes/ABC",
    "/codes/abcdefghij",
]


@pytest.mark.parametrize("path", PATHS)
async def test_with_a_valid_token_the_answers_are_fastapis(
    client: httpx.AsyncClient, signer: DevelopmentSigner, path: str
) -> None:
    token = signer.mint(Role.NAVIGATOR, subject="navigator-1", school=THING)

    theirs, ours = await ask_both(client, path, {"Authorization": f"Bearer {token}"})

    same(theirs, ours)


@pytest.mark.parametrize("path", [f"/things/{THING}", "/things/nope", f"/principal/{THING}"])
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic abc", "expired"])
async def test_refusals_of_the_token_are_fastapis(
    client: httpx.AsyncClient, signer: DevelopmentSigner, path: str, authorization: str | None
) -> None:
    headers = {}
    if authorization == "expired":
        authorization = f"Bearer {signer.mint(Role.NAVIGATOR, ttl_seconds=-120)}"
    if authorization is not None:
        headers["Authorization"] = authorization

    theirs, ours = await ask_both(client, path, headers)

    assert theirs.status_code == 401
    same(theirs, ours)


def test_only_routes_of_a_path_the_request_and_bearer_dependencies_are_direct() -> None:
    router = APIRouter(route_class=DirectRoute)

    @router.get("/a/{thing_id}")
    async def a(thing_id: UUID, context: Context) -> Response:
        return Response()

    @router.get("/b/{thing_id}")
    async def b(thing_id: UUID, context: Context, limit: int = 10) -> Any: ...

    @router.get("/c/{thing_id}")
    async def c(
        thing_id: UUID, context: Context, x: Annotated[str | None, Header()] = None
    ) -> Any: ...

    @router.get("/d/{name}")
    async def d(name: Annotated[str, Path(max_length=3)], context: Context) -> Response:
        return Response()

    @router.get("/e/{number}")
    async def e(number: int, context: Context) -> Any: ...

    @router.get("/f/{thing_id}")
    async def f(thing_id: UUID, context: Context, response: Response) -> Any: ...

    @router.get("/g/{thing_id}")
    def g(thing_id: UUID) -> Any: ...

    @router.get("/h/{thing_id}")
    async def h(thing_id: UUID, context: Context) -> Any: ...  # may return a model

    @router.get("/i/{thing_id}")
    async def i(
        thing_id: UUID,
        context: Annotated[RequestContext, Depends(request_context, max_concurrency=1)],
    ) -> Response:
        return Response()

    @router.put("/j/{thing_id}")
    async def j(thing_id: UUID, body: Choice, service: LookedUp, context: Context) -> Response:
        return Response()

    @router.put("/k/{thing_id}")
    async def k(thing_id: UUID, body: Annotated[Choice, Body(embed=True)]) -> Response:
        return Response()

    @router.put("/l/{thing_id}")
    async def l_(thing_id: UUID, body: Choice, other: Choice) -> Response:
        return Response()

    @router.put("/m/{thing_id}")
    async def m(thing_id: UUID, body: dict[str, str]) -> Response:
        return Response()

    def plain_function(request: Request) -> str:
        return "thread"

    @router.put("/n/{thing_id}")
    async def n(
        thing_id: UUID, body: Choice, service: Annotated[str, Depends(plain_function)]
    ) -> Response:
        return Response()

    @router.get("/o/{thing_id}")
    async def o(
        thing: Annotated[UUID, Path(validation_alias="thing_id")], context: Context
    ) -> Response:
        return Response()

    app = FastAPI()
    app.include_router(router)

    assert direct_routes(app) == {
        "/a/{thing_id}": True,
        "/b/{thing_id}": False,
        "/c/{thing_id}": False,
        "/d/{name}": True,  # a constrained string: FastAPI's field validates it
        "/e/{number}": False,
        "/f/{thing_id}": False,
        "/g/{thing_id}": False,
        "/h/{thing_id}": False,
        "/i/{thing_id}": False,
        "/j/{thing_id}": True,  # one JSON model, a request-only coroutine
        "/k/{thing_id}": False,  # embedded
        "/l/{thing_id}": False,  # two bodies
        "/m/{thing_id}": False,  # not a model
        "/n/{thing_id}": False,  # a plain function: FastAPI runs it on a thread
        "/o/{thing_id}": False,  # a validation alias: FastAPI's lookup, not `field.alias`
    }


# Every form of a UUID pydantic reads is read directly, by FastAPI's own field for the path.
@pytest.mark.parametrize("thing", [THING, THING.upper(), THING.replace("-", "")])
async def test_the_direct_route_skips_fastapis_dependency_solving(
    client: httpx.AsyncClient,
    signer: DevelopmentSigner,
    monkeypatch: pytest.MonkeyPatch,
    thing: str,
) -> None:
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies  # type: ignore[attr-defined]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    token = signer.mint(Role.NAVIGATOR)

    theirs, ours = await ask_both(client, f"/things/{thing}", {"Authorization": f"Bearer {token}"})

    assert solved == [f"/probe/v1/plain/things/{thing}"]
    assert ours.status_code == 200
    same(theirs, ours)


async def test_a_dependency_of_an_including_router_is_never_left_out(
    signer: DevelopmentSigner, tmp_path: Any
) -> None:
    asked: list[str] = []

    async def including_check(request: Request) -> None:
        asked.append(request.url.path)

    router = APIRouter(route_class=DirectRoute)

    @router.get("/things/{thing_id}")
    async def thing(thing_id: UUID, request: Request, context: Context) -> Response:
        return answer("uuid", thing_id, context, request)

    guarded = APIRouter(prefix="/v1")
    guarded.include_router(router, dependencies=[Depends(including_check)])
    app = create_service_app(
        ServiceDescription(name="probe", title="Probe", summary="For tests."),
        [guarded],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    token = signer.mint(Role.NAVIGATOR)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ours = await client.get(
            f"/probe/v1/things/{THING}", headers={"Authorization": f"Bearer {token}"}
        )

    assert ours.status_code == 200
    assert asked == [f"/probe/v1/things/{THING}"]


async def test_dependency_overrides_are_honoured(signer: DevelopmentSigner, tmp_path: Any) -> None:

    app = create_service_app(
        ServiceDescription(name="probe", title="Probe", summary="For tests."),
        [both],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    stand_in = RequestContext(Principal("stand-in", Role.NAVIGATOR), "overridden")
    app.dependency_overrides[request_context] = lambda: stand_in
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        token = signer.mint(Role.NAVIGATOR, subject="navigator-1")
        ours = await client.get(
            f"/probe/v1/direct/things/{THING}", headers={"Authorization": f"Bearer {token}"}
        )

    assert ours.json()["subject"] == "stand-in"
    assert ours.json()["correlation_id"] == "overridden"


async def test_a_direct_route_that_answers_no_response_is_an_error(
    serve_router: ServeRouter, signer: DevelopmentSigner
) -> None:
    router = APIRouter(route_class=DirectRoute)

    @router.get("/v1/model/{thing_id}")
    async def model(thing_id: UUID, context: Context) -> Response:
        return {"thing": str(thing_id)}  # type: ignore[return-value]  # the error it is

    token = signer.mint(Role.NAVIGATOR)
    async with serve_router(router, "probe") as client:
        with pytest.raises(TypeError, match="must answer with a Response"):
            await client.get(
                f"/probe/v1/model/{THING}", headers={"Authorization": f"Bearer {token}"}
            )


async def put_both(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], content: bytes | None
) -> tuple[httpx.Response, httpx.Response]:
    headers = {"X-Correlation-Id": "same-for-both", **headers}
    theirs = await client.put(f"/probe/v1/plain{path}", headers=headers, content=content)
    ours = await client.put(f"/probe/v1/direct{path}", headers=headers, content=content)
    return theirs, ours


JSON = {"Content-Type": "application/json"}
CHOICE = f"/things/{THING}/choices/abc"
BODIES = [
    (CHOICE, JSON, b'{"option_id": "opt_1"}'),  # the direct path
    (CHOICE, JSON, b'{"option_id": "opt_1", "weight": "3"}'),  # lax: pydantic reads "3"
    (f"/things/{THING.upper()}/choices/abc", JSON, b'{"option_id": "opt_1"}'),
    (f"/things/{THING}/choices/ABC", JSON, b'{"option_id": "opt_1"}'),
    ("/things/nope/choices/ABC", JSON, b'{"option_id": "BAD"}'),
    (CHOICE, JSON, b'{"option_id": "BAD"}'),
    (CHOICE, JSON, b'{"option_id": "opt_1", "extra": 1}'),
    (CHOICE, JSON, b"{}"),
    (CHOICE, JSON, b"[]"),
    (CHOICE, JSON, b"null"),
    (CHOICE, JSON, b'{"option_id": '),  # not JSON
    (CHOICE, JSON, b""),  # no body
    (CHOICE, JSON, None),
    (CHOICE, {"Content-Type": "application/json; charset=utf-8"}, b'{"option_id": "opt_1"}'),
    (CHOICE, {"Content-Type": "application/vnd.thing+json"}, b'{"option_id": "opt_1"}'),
    (CHOICE, {"Content-Type": "text/plain"}, b'{"option_id": "opt_1"}'),
    (CHOICE, {}, b'{"option_id": "opt_1"}'),
]


@pytest.mark.parametrize(("path", "media", "content"), BODIES)
async def test_bodies_are_read_as_fastapi_reads_them(
    client: httpx.AsyncClient,
    signer: DevelopmentSigner,
    path: str,
    media: dict[str, str],
    content: bytes | None,
) -> None:
    token = signer.mint(Role.NAVIGATOR, subject="navigator-1")
    looked_up.clear()

    theirs, ours = await put_both(
        client, path, {"Authorization": f"Bearer {token}", **media}, content
    )

    same(theirs, ours)
    assert ours.content == theirs.content or theirs.status_code != 200
    # The request-only dependency is called as FastAPI calls it: once a request (it is declared
    # twice), and not at all for a request FastAPI refuses before its dependencies.
    plain_calls = [path for path in looked_up if "/plain/" in path]
    direct_calls = [path.replace("/direct/", "/plain/") for path in looked_up if "/direct/" in path]
    assert direct_calls == plain_calls
    if theirs.status_code == 200:
        assert len(plain_calls) == 1


@pytest.mark.parametrize("content", [b'{"option_id": "opt_1"}', b'{"option_id": "BAD"}', b"{", b""])
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt"])
async def test_a_body_without_a_valid_token_is_answered_as_fastapi_answers(
    client: httpx.AsyncClient, content: bytes, authorization: str | None
) -> None:
    headers = dict(JSON)
    if authorization is not None:
        headers["Authorization"] = authorization

    theirs, ours = await put_both(client, CHOICE, headers, content)

    assert theirs.status_code in (401, 422)
    same(theirs, ours)


async def test_a_model_response_is_fastapis_serialisation_byte_for_byte(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    token = signer.mint(Role.NAVIGATOR, subject="navigator-1")
    headers = {"Authorization": f"Bearer {token}", **JSON}
    content = b'{"option_id": "opt_1", "weight": 2}'

    fastapis = await client.put(f"/probe/v1/plain/models/{THING}", headers=headers, content=content)
    chosen = await client.put(f"/probe/v1/direct{CHOICE}", headers=headers, content=content)

    assert fastapis.status_code == chosen.status_code == 200
    expected = fastapis.content.replace(b'"code":"-"', b'"code":"abc"').replace(
        b'"service":"-"', b'"service":"looked-up"'
    )
    assert chosen.content == expected
    assert chosen.headers["content-type"] == fastapis.headers["content-type"]


async def test_the_direct_body_route_skips_fastapis_dependency_solving(
    client: httpx.AsyncClient, signer: DevelopmentSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies  # type: ignore[attr-defined]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    token = signer.mint(Role.NAVIGATOR)
    headers = {"Authorization": f"Bearer {token}", **JSON}

    await put_both(client, CHOICE, headers, b'{"option_id": "opt_1"}')
    await client.get("/probe/v1/direct/codes/abc", headers=headers)

    assert solved == [f"/probe/v1/plain{CHOICE}"]


def _fragile(text: str) -> str:
    if text == "boom":
        raise TypeError("a validator's bug")  # pydantic lets it escape: no 422
    return text


class Fragile(BaseModel):
    option_id: str

    @field_validator("option_id")
    @classmethod
    def _no_boom(cls, value: str) -> str:
        if value == "boom":
            raise KeyError(value)  # pydantic lets it escape: no 422
        return value


@pytest.mark.parametrize(
    ("path", "content"),
    [("/fragile/boom", b'{"option_id": "opt_1"}'), ("/fragile/abc", b'{"option_id": "boom"}')],
)
@pytest.mark.parametrize("token", [False, True])
async def test_a_validator_that_raises_is_fastapis_to_answer(
    serve_router: ServeRouter, signer: DevelopmentSigner, path: str, content: bytes, token: bool
) -> None:
    # FastAPI validates the path and the body after the dependencies: without a token its 401,
    # with one the validator's exception (a 500). The direct route, validating first, must not
    # answer a 500 where FastAPI answers 401 (a review's finding, docs/adr/0112).
    def declare_fragile(router: APIRouter) -> None:
        @router.put("/fragile/{code}")
        async def fragile(
            code: Annotated[str, AfterValidator(_fragile), Path()], body: Fragile, context: Context
        ) -> Response:
            return JSONResponse({"code": code, "option_id": body.option_id})

    plain_router, direct_router = (
        APIRouter(prefix="/plain"),
        APIRouter(prefix="/direct", route_class=DirectRoute),
    )
    declare_fragile(plain_router)
    declare_fragile(direct_router)
    routers = APIRouter(prefix="/v1")
    routers.include_router(plain_router)
    routers.include_router(direct_router)
    headers = dict(JSON)
    if token:
        headers["Authorization"] = f"Bearer {signer.mint(Role.NAVIGATOR)}"

    async with serve_router(routers, "probe", raise_app_exceptions=False) as client:
        app = client._transport.app  # type: ignore[attr-defined]
        assert direct_routes(app) == {"/direct/fragile/{code}": True}
        theirs, ours = await put_both(client, path, headers, content)

    assert theirs.status_code == (500 if token else 401)
    assert ours.status_code == theirs.status_code
    if not token:
        same(theirs, ours)


@pytest.mark.parametrize("token", [False, True])
async def test_a_body_over_the_limit_is_fastapis_to_read(
    client: httpx.AsyncClient,
    signer: DevelopmentSigner,
    monkeypatch: pytest.MonkeyPatch,
    token: bool,
) -> None:
    # Read directly, a large body would be parsed and validated before the token is checked,
    # and again by FastAPI when handed over (a review's finding, docs/adr/0112).
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies  # type: ignore[attr-defined]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    headers = dict(JSON)
    if token:
        headers["Authorization"] = f"Bearer {signer.mint(Role.NAVIGATOR)}"
    document = b'{"option_id": "opt_1"}'
    at_the_limit = document + b" " * (DIRECT_BODY_MAX - len(document))
    direct_path = f"/probe/v1/direct{CHOICE}"

    ours = await client.put(direct_path, headers=headers, content=at_the_limit)
    assert solved == []  # read directly (without a token: the direct route's 401)
    theirs, over = await put_both(client, CHOICE, headers, at_the_limit + b" ")

    assert ours.status_code == over.status_code == theirs.status_code == (200 if token else 401)
    assert solved[-2:] == [f"/probe/v1/plain{CHOICE}", direct_path]
    same(theirs, over)
