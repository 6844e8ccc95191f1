"""Composition root of the HTTP process: `uvicorn bilet_identity.app:create_app --factory`.

Wires the real adapters from settings: the event store (SQLite under `var/` embedded, PostgreSQL
schema `bvb_identity` with `BVB_EVENT_STORE=postgres`), the key store and master key, the
pseudonym key, the audit trail (in the same store), and the readiness probe (the store answers).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI

from bilet.audit import EventStoreAuditLog
from bilet.crypto import FieldCipher
from bilet.eventstore import EventStore
from bilet.http import ReadinessCheck, ServiceDescription, answers, create_service_app
from bilet_identity.adapters.stores import (
    load_pseudonym_key,
    open_event_store,
    open_key_store,
)
from bilet_identity.api.problems import on_domain_error
from bilet_identity.api.routes import router
from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.application.service import IdentityService
from bilet_identity.demo import load_demo_data
from bilet_identity.domain.errors import DomainError
from bilet_identity.settings import SERVICE_NAME, IdentitySettings

SERVICE = ServiceDescription(
    name=SERVICE_NAME,
    title="Bilet Identity",
    summary="Regions, schools and participants: registration by the school, one profile per child.",
    tags=(
        {"name": "programme", "description": "Seasons and their rules (versioned configuration)."},
        {"name": "regions", "description": "Admitted regions, testing windows and schools."},
        {"name": "participants", "description": "Pupils registered by their schools."},
    ),
)
# A class list of 20,000 pupils is about 2.5 MB.
IMPORT_BODY_LIMIT: Final = 8 << 20


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pseudonymiser = Pseudonymiser(load_pseudonym_key(settings))
        store = await open_event_store(settings)
        keystore = await open_key_store(settings)
        try:
            service = IdentityService(
                store, FieldCipher(keystore), EventStoreAuditLog(store), pseudonymiser
            )
            app.state.event_store = store
            app.state.identity = service
            if settings.identity_demo_data:
                await load_demo_data(service)
            yield
        finally:
            await keystore.close()
            await store.close()

    async def store_answers() -> ReadinessCheck:
        store: EventStore | None = getattr(app.state, "event_store", None)
        ask = store.head_position if store is not None else None
        return await answers("event_store", ask)

    app = create_service_app(
        SERVICE,
        [router],
        lifespan,
        settings=settings,
        readiness=[store_answers],
        body_limits={"/v1/participants/import": IMPORT_BODY_LIMIT},
    )
    app.add_exception_handler(DomainError, on_domain_error)
    return app


def create_embedded_app() -> FastAPI:
    """The service as the embedded host runs it (`make run`): with the demo data."""
    return create_app(IdentitySettings(identity_demo_data=True))
