"""Composition root of the HTTP process: `uvicorn bilet_recommender.app:create_app --factory`."""

from fastapi import FastAPI

from bilet.http import ServiceDescription, create_service_app

SERVICE = ServiceDescription(
    name="recommender",
    title="Bilet Recommender",
    summary="Individual study plans and regional opportunities derived from the portfolio.",
)


def create_app() -> FastAPI:
    return create_service_app(SERVICE)
