"""`check_refusals` finds each way a route's description and its OpenAPI `responses` (or the
status the service answers a code with) disagree, and passes a route where they agree."""

from typing import Any

from bilet.errors import DomainError
from bilet.http.openapi_checks import FRAME_STATUS, answered_codes, check_refusals, refusal_codes

STATUS = {"forbidden": 403, "unknown_thing": 404, "thing_exists": 409}


def _spec(description: str, *statuses: int, path: str = "/svc/v1/things") -> dict[str, Any]:
    responses = {str(status): {"description": "…"} for status in (200, *statuses)}
    operation = {"description": description, "responses": responses}
    return {"paths": {path: {"post": operation, "head": {"responses": {}}}}}


AGREEING = (
    "Creates a thing.\n\n**Who:** a registrar.\n\n**Refusals:** 403 `forbidden` (any other role); "
    "404 `unknown_thing`; 409 `thing_exists` (the id is taken); 422 `invalid_request`, `bad_name`."
)


def test_a_route_whose_refusals_agree_with_its_responses_passes() -> None:
    found = check_refusals(_spec(AGREEING, 403, 404, 409, 422), prefix="/svc/v1/", status_of=STATUS)
    assert (found.problems, found.operations, found.codes) == ([], 1, 5)


def test_a_named_status_missing_from_the_responses_is_found() -> None:
    found = check_refusals(_spec(AGREEING, 403, 409, 422), prefix="/svc/v1/", status_of=STATUS)
    assert found.problems == ["POST /svc/v1/things: 404 is not in its responses"]


def test_a_code_named_with_another_status_than_it_is_answered_with_is_found() -> None:
    description = AGREEING.replace("409 `thing_exists`", "422 `thing_exists`")
    found = check_refusals(_spec(description, 403, 404, 422), prefix="/svc/v1/", status_of=STATUS)
    assert found.problems == ["POST /svc/v1/things: `thing_exists` is named 422, answered 409"]


def test_the_frames_codes_have_the_frames_status() -> None:
    description = AGREEING.replace(
        "422 `invalid_request`", "400 `invalid_text`; 422 `invalid_request`"
    )
    found = check_refusals(
        _spec(description, 400, 403, 404, 409, 422), prefix="/svc/v1/", status_of=STATUS
    )
    assert found.problems == []
    wrong = AGREEING.replace("403 `forbidden`", "403 `forbidden`, `invalid_text`")
    found = check_refusals(_spec(wrong, 403, 404, 409, 422), prefix="/svc/v1/", status_of=STATUS)
    assert found.problems == ["POST /svc/v1/things: `invalid_text` is named 403, answered 400"]


def test_a_code_the_service_does_not_answer_is_found_when_the_codes_are_known() -> None:
    found = check_refusals(
        _spec(AGREEING, 403, 404, 409, 422),
        prefix="/svc/v1/",
        status_of=STATUS,
        known={*STATUS, "invalid_request"},
    )
    assert found.problems == ["POST /svc/v1/things: `bad_name` is no code the service answers"]


def test_a_description_without_its_sections_is_found_unless_none_are_asked_for() -> None:
    bare = "Creates a thing. 403 `forbidden` for any other role."
    found = check_refusals(_spec(bare, 403), prefix="/svc/v1/", status_of=STATUS)
    assert found.problems == [
        "POST /svc/v1/things: no **Who:** in its description",
        "POST /svc/v1/things: no **Refusals:** in its description",
    ]
    lenient = check_refusals(_spec(bare, 403), prefix="/svc/v1/", status_of=STATUS, sections=())
    assert lenient.problems == []


def test_routes_outside_the_prefix_are_not_checked() -> None:
    found = check_refusals(
        _spec("Nothing said.", path="/svc/health"), prefix="/svc/v1/", status_of=STATUS
    )
    assert (found.problems, found.operations) == ([], 0)


class _Refused(DomainError):
    code = "refused"


class _Gone(_Refused):
    code = "gone"


def test_refusal_codes_are_those_of_the_base_and_every_class_derived_from_it() -> None:
    assert refusal_codes(_Refused) == {"refused", "gone"}


def test_the_codes_a_service_answers_are_its_refusals_the_frames_and_its_own_problems() -> None:
    assert answered_codes(_Refused, "invalid_cursor") == {
        "refused",
        "gone",
        "invalid_cursor",
        *FRAME_STATUS,
    }
