"""The rule-7 checks find what they are meant to find, and nothing else."""

from bilet.http.openapi_checks import undefined_schemas, undescribed_operations

SPEC = {
    "paths": {
        "/a": {
            "get": {"description": "Described.", "responses": {}},
            "post": {"summary": "Only a summary", "responses": {}},
            "parameters": [],
        },
    },
    "components": {
        "schemas": {
            "Known": {"type": "object", "properties": {"x": {"$ref": "#/components/schemas/Gone"}}}
        }
    },
}


def test_an_operation_with_only_a_summary_is_undescribed() -> None:
    assert undescribed_operations(SPEC) == ["POST /a"]


def test_a_reference_to_a_schema_nobody_defines_is_found() -> None:
    assert undefined_schemas(SPEC) == {"Gone"}
