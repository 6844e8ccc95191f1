"""`bvb dev-token` mints only tokens that can work: each role with the scope it is checked against,
ids the services can match (UUIDs), a lifetime the services accept; anything else is refused with
a message saying what to pass and a non-zero exit, and nothing is printed on stdout."""

import uuid
from pathlib import Path

import jwt
import pytest

from bilet_host.cli import main

SCHOOL = "3f2b1c9e-8d7a-4b6c-9e1f-0a2b3c4d5e6f"


@pytest.fixture(autouse=True)
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("BVB_ENVIRONMENT", raising=False)
    return tmp_path / "var"


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--role", "navigator"], "--school"),
        (["--role", "registrar"], "--school"),
        (["--role", "pupil"], "--participant"),
        (["--role", "guardian"], "--child"),
        (["--role", "coordinator"], "--region"),
        (["--role", "organiser"], "--venue"),
        (["--role", "navigator", "--region", SCHOOL], "--school"),
        (["--role", "registrar", "--school", "school-1"], "not an id"),
        (["--role", "pupil", "--participant", "42"], "not an id"),
        (["--role", "guardian", "--child", SCHOOL, "--child", "x"], "not an id"),
        (["--role", "mentor", "--subject", "demo-mentor"], "UUID"),
        (["--role", "operator", "--subject", " "], "--subject"),
        (["--role", "operator", "--hours", "0"], "--hours"),
        (["--role", "operator", "--hours", "-3"], "--hours"),
        (["--role", "operator", "--hours", "13"], "BVB_JWT_MAX_LIFETIME_SECONDS"),
        (["--role", "navigator", "--sign-up"], "--sign-up"),
        (["--role", "pupil", "--sign-up", "--participant", SCHOOL], "not yet bound"),
    ],
)
def test_a_token_that_cannot_work_is_refused_with_what_to_pass(
    arguments: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev-token", *arguments]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith("bvb dev-token: ")
    assert says in printed.err


def test_a_token_that_can_work_is_minted_with_its_ids_in_canonical_form(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["dev-token", "--role", "navigator", "--school", SCHOOL.upper()]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert (claims["role"], claims["school"]) == ("navigator", SCHOOL)
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert main(["dev-token", "--role", "mentor", "--hours", "1"]) == 0
    mentor = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert uuid.UUID(mentor["sub"])  # the events service reads it as the mentor's id
    assert mentor["exp"] - mentor["iat"] == 3600
    assert main(["dev-token", "--role", "operator"]) == 0  # no scope needed


def test_the_identity_providers_client_token_needs_no_scope(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What a developer calls `/identity/v1/accounts/{subject}/claims` with (docs/adr/0052).
    assert main(["dev-token", "--role", "identity_provider", "--hours", "1"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["role"] == "identity_provider"


def test_a_new_pupils_sign_up_token_carries_its_role_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What the pupils' portal's account gets before it redeems its code (docs/adr/0053).
    assert main(["dev-token", "--role", "pupil", "--sign-up", "--subject", "new-pupil"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert (claims["role"], claims["sub"]) == ("pupil", "new-pupil")
    assert "participant" not in claims
