"""Composition root of the HTTP process: `uvicorn bilet_events.app:create_app --factory`."""

from fastapi import FastAPI

from bilet.http import ServiceDescription, create_service_app

SERVICE = ServiceDescription(
    name="events",
    title="Bilet Career events",
    summary="Career events (профпробы): catalogue, booking, attendance and mentor feedback.",
)


def create_app() -> FastAPI:
    return create_service_app(SERVICE)
