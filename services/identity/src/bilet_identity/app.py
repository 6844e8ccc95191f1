"""Composition root of the HTTP process: `uvicorn bilet_identity.app:create_app --factory`."""

from fastapi import FastAPI

from bilet.http import ServiceDescription, create_service_app

SERVICE = ServiceDescription(
    name="identity",
    title="Bilet Identity",
    summary="Regions, schools and participants: registration by the school, one profile per child.",
)


def create_app() -> FastAPI:
    return create_service_app(SERVICE)
