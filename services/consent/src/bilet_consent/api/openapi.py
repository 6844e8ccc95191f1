"""What the OpenAPI document says about the multipart submission, which FastAPI cannot infer.

`POST /consent/v1/consents` reads its body by hand (`api.multipart`, then `routes._form`), so
FastAPI sees neither the two parts nor the model the `consent` part is validated against. The
route declares the body itself (`SUBMIT_BODY`) and `add_form_schema` adds `SubmitConsentForm`
(and the models it uses) to `components.schemas`, so the reference resolves in `/consent/docs`.
Documentation only: the request is handled exactly as before.
"""

from typing import Any, Final

from fastapi import FastAPI

from bilet_consent.api.models import SubmitConsentForm

COMPONENT_REF: Final = "#/components/schemas/{model}"
FORM_SCHEMA: Final = SubmitConsentForm.__name__

SUBMIT_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["consent", "document"],
                    # The reader refuses any other part (400 `invalid_multipart`).
                    "additionalProperties": False,
                    "properties": {
                        "consent": {
                            "$ref": COMPONENT_REF.format(model=FORM_SCHEMA),
                            "description": "The form's fields as JSON: SubmitConsentForm.",
                        },
                        "document": {
                            "type": "string",
                            "format": "binary",
                            "description": "The signed form: PDF, JPEG or PNG, by content.",
                        },
                    },
                },
                "encoding": {"consent": {"contentType": "application/json"}},
            }
        },
    }
}


def add_form_schema(app: FastAPI) -> None:
    """Make the app's OpenAPI document define `SubmitConsentForm`, which `SUBMIT_BODY` names."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        form = SubmitConsentForm.model_json_schema(ref_template=COMPONENT_REF)
        for name, schema in form.pop("$defs", {}).items():
            schemas.setdefault(name, schema)  # FastAPI's own, where it already has the model
        schemas[FORM_SCHEMA] = form
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
