"""Property-based tests over the identity OpenAPI document (schemathesis, in process): whatever a
client sends, the service answers as documented and never with a server error."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet_identity import demo
from bilet_identity.app import create_app
from bilet_identity.settings import IdentitySettings

# Bounded: every operation gets at most this many generated requests.
EXAMPLES = 30

# The schema is loaded when the module is collected (schemathesis' lazy fixture loader does not
# run on pytest 9), so the service's state lives in a directory of this module's own.
VAR_DIR = Path(tempfile.mkdtemp(prefix="bilet-identity-schemathesis-"))
# The demo data gives the generated requests a real region, schools and pupils to meet.
APP = create_app(IdentitySettings(var_dir=VAR_DIR, identity_demo_data=True))
REGISTRAR = {
    "Authorization": "Bearer "
    + ensure_development_keys(VAR_DIR).mint(Role.REGISTRAR, school=str(demo.SCHOOLS[0].school_id))
}
schema = schemathesis.openapi.from_asgi("/identity/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _stop_the_service() -> Iterator[None]:
    yield
    shutdown_lifespans()  # schemathesis started the app's lifespan on the first request
    shutil.rmtree(VAR_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_answers_as_documented(case: schemathesis.Case[Any]) -> None:
    # Every check but "schema-valid data is accepted": a valid-looking СНИЛС with wrong check
    # digits, an ineligible grade or a name of digits are schema-valid and rightly refused (422).
    case.call_and_validate(headers=REGISTRAR, excluded_checks=[positive_data_acceptance])
