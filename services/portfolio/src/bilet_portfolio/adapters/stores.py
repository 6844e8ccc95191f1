"""Opening what the portfolio keeps its data in, as the settings say.

- The read model: `var/portfolio-readmodel.sqlite3` (embedded) or PostgreSQL schema
  `bvb_portfolio_rm` (`bilet.stores.open_read_model`).
- The audit trail of its reads: the portfolio's own small event store (`var/portfolio.sqlite3`,
  or PostgreSQL schema `bvb_portfolio`); the portfolio publishes no events.
- Data keys: the suite's one key store, to open the sealed names for entitled roles.
- Embedded only: the other services' stores, which the in-process feed reads.
"""

from bilet import stores
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import ReadModel
from bilet_portfolio.settings import SERVICE_NAME, SOURCES, PortfolioSettings


async def open_read_model(settings: PortfolioSettings) -> ReadModel:
    return await stores.open_read_model(settings, SERVICE_NAME)


async def open_audit_store(settings: PortfolioSettings) -> EventStore:
    return await stores.open_event_store(settings, SERVICE_NAME)


async def open_key_store(settings: PortfolioSettings) -> KeyStore:
    return await stores.open_key_store(settings)


async def open_sources(settings: PortfolioSettings) -> dict[str, EventStore]:
    return await stores.open_source_stores(settings, SOURCES)
