"""The HTTP frame every service is built in: path prefix, health, OpenAPI, stable operation ids."""

from bilet.http.service import ServiceDescription, create_service_app

__all__ = ["ServiceDescription", "create_service_app"]
