"""Composition root of the HTTP process: `uvicorn bilet_portfolio.app:create_app --factory`."""

from fastapi import FastAPI

from bilet.http import ServiceDescription, create_service_app

SERVICE = ServiceDescription(
    name="portfolio",
    title="Bilet Portfolio",
    summary="The participant's digital portfolio, read by pupils, guardians and navigators.",
)


def create_app() -> FastAPI:
    return create_service_app(SERVICE)
