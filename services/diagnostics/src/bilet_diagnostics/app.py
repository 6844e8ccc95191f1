"""Composition root of the HTTP process: `uvicorn bilet_diagnostics.app:create_app --factory`."""

from fastapi import FastAPI

from bilet.http import ServiceDescription, create_service_app

SERVICE = ServiceDescription(
    name="diagnostics",
    title="Bilet Diagnostics",
    summary="The three online diagnostics stages: instruments, answers and scores.",
)


def create_app() -> FastAPI:
    return create_service_app(SERVICE)
