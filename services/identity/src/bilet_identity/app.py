"""Composition root of the HTTP process: `uvicorn bilet_identity.app:create_app --factory`.

Wires the real adapters from settings: the event store (SQLite under `var/` embedded, PostgreSQL
schema `bvb_identity` with `BVB_EVENT_STORE=postgres`), the key store and master key, the
pseudonym key, the audit trail (in the same store), the readiness probe (the store answers) and,
embedded, the feed of the consent service's erasures (`application.erasures`), which the worker
runs instead in the distributed mode.
"""

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Final

from fastapi import FastAPI

from bilet import stores
from bilet.audit import EventStoreAuditLog
from bilet.contracts import CATALOGUE
from bilet.crypto import FieldCipher
from bilet.eventstore import EventStore
from bilet.http import (
    ReadinessCheck,
    ServiceDescription,
    answers,
    create_service_app,
    feed_readiness,
)
from bilet.projections import BackgroundFeed, EmbeddedFeed
from bilet_identity.access import account_routes
from bilet_identity.access import routes as access_routes
from bilet_identity.access.attempts import AttemptLimit, AttemptLimiter
from bilet_identity.access.bindings import AccountBindings, AccountDirectory
from bilet_identity.access.demo_codes import load_demo_code
from bilet_identity.access.demo_grants import load_demo_grants
from bilet_identity.access.grants import AccountAccess
from bilet_identity.access.unbinding import PupilUnbinding
from bilet_identity.adapters.pseudonym_key import load_pseudonym_key
from bilet_identity.adapters.stores import open_event_store, open_key_store, open_read_model
from bilet_identity.api.problems import on_domain_error
from bilet_identity.api.routes import router
from bilet_identity.application.consent_feed import ConsentFeedProjection
from bilet_identity.application.consent_state import CONSENT_SOURCE, ConsentStates
from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.application.service import IdentityService
from bilet_identity.demo import load_demo_data
from bilet_identity.domain.errors import DomainError
from bilet_identity.domain.people import GradeAgeBand
from bilet_identity.settings import SERVICE_NAME, IdentitySettings

SERVICE = ServiceDescription(
    name=SERVICE_NAME,
    title="Bilet Identity",
    summary="Regions, schools and participants: registration by the school, one profile per child.",
    tags=(
        {"name": "programme", "description": "Seasons and their rules (versioned configuration)."},
        {"name": "regions", "description": "Admitted regions, testing windows and schools."},
        {"name": "participants", "description": "Pupils registered by their schools."},
        {
            "name": "access",
            "description": "Grants (who acts for which region, school, venue, career event) and "
            "the claims the identity provider puts into an account's token.",
        },
        {
            "name": "accounts",
            "description": "Pupils' and guardians' accounts bound by one-time codes.",
        },
    ),
)
# A class list of 20,000 pupils is about 2.5 MB.
IMPORT_BODY_LIMIT: Final = 8 << 20


def create_app(
    settings: IdentitySettings | None = None, *, today: Callable[[], date] = date.today
) -> FastAPI:
    """The service; `today` is the day rules and consents are judged on (tests move it)."""
    settings = settings or IdentitySettings()
    # Without its feed (or the worker), an erased child's reservation is never released and no
    # consent is known (health data is withheld from everyone).
    feed = (
        BackgroundFeed("identity-feed", "embedded feed of consent's stream")
        if settings.identity_embedded_feed
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            store = await open_event_store(settings)
            stack.push_async_callback(store.close)
            keystore = await open_key_store(settings)
            stack.push_async_callback(keystore.close)
            pseudonymiser = Pseudonymiser(await load_pseudonym_key(settings, store, keystore))
            # Read in both modes; written by the embedded feed below or by the worker.
            read_model = await open_read_model(settings)
            stack.push_async_callback(read_model.close)
            service = IdentityService(
                store,
                FieldCipher(keystore),
                EventStoreAuditLog(store),
                pseudonymiser,
                today=today,
                consents=ConsentStates(read_model),
                age_band=GradeAgeBand(
                    settings.identity_grade_age_years_younger,
                    settings.identity_grade_age_years_older,
                ),
            )
            app.state.event_store = store
            app.state.identity = service
            app.state.account_access = AccountAccess(service, AccountDirectory(service))
            app.state.account_bindings = AccountBindings(
                service,
                _redemption_limiter(settings),
                guardian_codes=settings.guardian_codes_enabled,
            )
            app.state.pupil_unbinding = PupilUnbinding(service)
            if feed is not None:
                sources = await stores.open_source_stores(settings, [CONSENT_SOURCE])
                for source in sources.values():
                    stack.push_async_callback(source.close)
                # Published types only, as on Kafka (consent's internal streams stay unread).
                consents = EmbeddedFeed(
                    read_model,
                    ConsentFeedProjection(service.release_erased),
                    sources,
                    event_types=CATALOGUE.event_types(),
                )
                app.state.feed_task = await stack.enter_async_context(feed.running(consents))
            if settings.identity_demo_data:
                await load_demo_data(service)
                await load_demo_grants(app.state.account_access)
                await load_demo_code(app.state.account_bindings)
            # Participants registered before the surname index existed are indexed once.
            await service.index_missing_surnames()
            yield

    async def store_answers() -> ReadinessCheck:
        store: EventStore | None = getattr(app.state, "event_store", None)
        ask = store.head_position if store is not None else None
        return await answers("event_store", ask)

    app = create_service_app(
        SERVICE,
        [router, access_routes.router, account_routes.router],
        lifespan,
        settings=settings,
        readiness=[store_answers, feed_readiness(feed)],
        body_limits={"/v1/participants/import": IMPORT_BODY_LIMIT},
    )
    app.add_exception_handler(DomainError, on_domain_error)
    return app


def _redemption_limiter(settings: IdentitySettings) -> AttemptLimiter:
    window = settings.identity_code_failure_window_seconds
    return AttemptLimiter(
        {
            "account": AttemptLimit(settings.identity_code_failures_per_account, window),
            "source": AttemptLimit(settings.identity_code_failures_per_source, window),
        }
    )


def create_embedded_app() -> FastAPI:
    """The service as the embedded host runs it (`make run`): with the demo data."""
    return create_app(IdentitySettings(identity_demo_data=True))
