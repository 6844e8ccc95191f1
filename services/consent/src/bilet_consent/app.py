"""Composition root of the HTTP process: `uvicorn bilet_consent.app:create_app --factory`."""

from fastapi import FastAPI

from bilet.http import ServiceDescription, create_service_app

SERVICE = ServiceDescription(
    name="consent",
    title="Bilet Consent",
    summary="Guardian consents: upload, verification, withdrawal and destruction of personal data.",
)


def create_app() -> FastAPI:
    return create_service_app(SERVICE)
