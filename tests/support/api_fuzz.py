"""The one schemathesis harness every service's API test uses (issue 18, docs/adr/0049).

A service's test module seeds its stores, builds its app and describes who calls what
(`ApiFuzz`); the harness loads the service's OpenAPI document in process and checks every
operation with generated requests in both of schemathesis' modes:

- **negative** (requests the schema forbids): answered 4xx, never 5xx, and as documented;
- **positive** (requests the schema allows): never 5xx, every answer's status and body as the
  document says, and never refused for their *shape*. A schema-valid request answered 400 or 422
  means the schema lacks a constraint the server enforces: the fix is the constraint in the
  schema, not an exclusion here. The statuses a valid request may rightly get are those that
  depend on who asks and on the state, not on the request's form (`EXPECTED_OF_VALID`).

So that positive requests reach the handlers rather than stop at "nobody by that id", each
operation is called with the token of a role that may call it, and a positive case's ids and
values named in `known` are replaced by seeded ones (a negative case keeps what makes it
invalid). Values the schema cannot express (a СНИЛС's check digits, a grade the season's rules
admit) are seeded the same way: they depend on arithmetic or state, not on the request's form.
"""

import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.schemas import OpenApiSchema

# What a schema-valid request may be answered: success, or a refusal about the caller (401,
# 403), the state (404, 409, 412 a stale `If-Match`) or the load (429). Not 400 or 422.
EXPECTED_OF_VALID: Final = ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]

# Bounded: every operation gets at most this many generated requests, positive and negative
# together, so that the six services' runs stay a few minutes of `make test`.
EXAMPLES: Final = 15

FUZZ_SETTINGS: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases on every run: a failure is reproducible
)

# (method, path template) -> the bearer token of a role that may call the operation.
Caller = Callable[[str, str], str]


def json_body(case: schemathesis.Case[Any]) -> dict[str, Any]:
    """The case's JSON object body, to change in place (a new, unused dict when it has none)."""
    body: Any = case.body
    return body if isinstance(body, dict) else {}


def grades_in_order(body: dict[str, Any]) -> None:
    """`eligible_grades` from the lowest to the highest (a rule across its two fields, in
    identity's season rules, career events and opportunities alike)."""
    grades = body.get("eligible_grades")
    if isinstance(grades, dict) and grades.get("lowest", 0) > grades.get("highest", 0):
        grades["lowest"], grades["highest"] = grades["highest"], grades["lowest"]


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "generation": {"mode": "all"},
            # Hypothesis' generation (positive and negative) and the document's examples; not
            # the coverage phase's thousands of boundary variants per operation (minutes each
            # on six services), which also sends positive strings outside a field's pattern.
            "phases": {"coverage": {"enabled": False}},
            "checks": {"positive_data_acceptance": {"expected-statuses": EXPECTED_OF_VALID}},
        }
    )


@dataclass
class ApiFuzz:
    """One service under the harness: its app (on its own `var_dir`), where its document is,
    who calls each operation, and the seeded values a positive case names."""

    app: FastAPI
    openapi_path: str
    var_dir: Path
    caller: Caller
    # A parameter's or a JSON body field's name -> the seeded value a positive case gets.
    known: Mapping[str, Any] = field(default_factory=dict)
    # Whether a positive case keeps its own ids (a command that would spoil the seeded state).
    keeps_own_ids: Callable[[schemathesis.Case[Any]], bool] = lambda _: False
    # Makes a positive case meet a rule across fields or of arithmetic that no JSON Schema can
    # state (a season's dates inside its year, a СНИЛС's check digits), after `known` is named.
    meet_rules: Callable[[schemathesis.Case[Any]], None] = lambda _: None

    def __post_init__(self) -> None:
        self.schema: OpenApiSchema = schemathesis.openapi.from_asgi(
            self.openapi_path, self.app, config=_config()
        )

    def _name_known_things(self, case: schemathesis.Case[Any]) -> None:
        # A cursor is opaque: only the one a page gave is valid (400 `invalid_cursor` else,
        # its form is in the schema). A positive case asks for the first page.
        if case.query:
            case.query.pop("cursor", None)
        for parameters in (case.path_parameters, case.query):
            if parameters:
                for name in set(self.known) & set(parameters):
                    parameters[name] = self.known[name]
        if isinstance(case.body, dict):
            for name in set(self.known) & set(case.body):
                case.body[name] = self.known[name]

    def check(self, case: schemathesis.Case[Any]) -> None:
        """Calls the operation as the role that may, and runs every check schemathesis has."""
        positive = case.meta is not None and case.meta.generation.mode.is_positive
        if positive and not self.keeps_own_ids(case):
            self._name_known_things(case)
        if positive:
            self.meet_rules(case)
        token = self.caller(case.method.upper(), case.path)
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

    def test(self) -> Any:
        """The test function, one test per operation: a service's module binds it to a name
        starting with `test_` for pytest to collect (schemathesis' decorator returns `Any`)."""

        @self.schema.parametrize()
        @FUZZ_SETTINGS
        def test_the_api_answers_as_documented(case: schemathesis.Case[Any]) -> None:
            self.check(case)

        return test_the_api_answers_as_documented

    def lifespan_fixture(self) -> Any:
        """The module fixture that ends the app's lifespan (schemathesis starts it on the first
        request) and removes its `var_dir`."""

        @pytest.fixture(scope="module", autouse=True)
        def _stop_the_service() -> Iterator[None]:
            yield
            shutdown_lifespans()
            shutil.rmtree(self.var_dir, ignore_errors=True)

        return _stop_the_service
