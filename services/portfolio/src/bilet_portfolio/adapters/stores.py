"""Opening what the portfolio keeps its data in, as the settings say.

- The read model: `var/portfolio-readmodel.sqlite3` (embedded) or PostgreSQL schema
  `bvb_portfolio_rm` (`bilet.stores.open_read_model`).
- The audit trail of its reads: the portfolio's own small event store (`var/portfolio.sqlite3`,
  or PostgreSQL schema `bvb_portfolio`); the portfolio publishes no events.
- Data keys: the suite's one key store, to open the sealed names for entitled roles.
- Embedded only: the other services' stores, which the in-process feed reads.
- The key that signs list cursors: from `BVB_PORTFOLIO_CURSOR_SECRET`, else from the master key.
"""

import base64
import hashlib
import hmac

from bilet import stores
from bilet.crypto import KeyStore
from bilet.crypto.master import MASTER_KEY_FILE, load_master_key
from bilet.eventstore import EventStore
from bilet.projections import ReadModel
from bilet.settings import Environment
from bilet_portfolio.settings import SERVICE_NAME, SOURCES, PortfolioSettings


async def open_read_model(settings: PortfolioSettings) -> ReadModel:
    return await stores.open_read_model(settings, SERVICE_NAME)


async def open_audit_store(settings: PortfolioSettings) -> EventStore:
    return await stores.open_event_store(settings, SERVICE_NAME)


def list_cursor_key(settings: PortfolioSettings) -> bytes:
    """The key that signs the school lists' cursors: the same in every replica and process, as
    it comes from configuration (never made at random), and useless for anything else (derived
    for this one purpose: a cursor's signature reveals nothing of the master key)."""
    if settings.portfolio_cursor_secret is not None:
        secret = settings.portfolio_cursor_secret.get_secret_value().encode()
    else:
        configured = settings.master_key.get_secret_value() if settings.master_key else None
        development = settings.environment is Environment.DEVELOPMENT
        # Checks the master key (refused when missing outside development; made under var/ in
        # development), whose bytes are then the secret.
        load_master_key(configured, settings.var_dir, development)
        text = configured or (settings.var_dir / MASTER_KEY_FILE).read_text(encoding="ascii")
        secret = base64.b64decode(text.strip())
    return hmac.new(secret, b"bilet.portfolio.list-cursor-key.v1", hashlib.sha256).digest()


async def open_key_store(settings: PortfolioSettings) -> KeyStore:
    return await stores.open_key_store(settings)


async def open_sources(settings: PortfolioSettings) -> dict[str, EventStore]:
    return await stores.open_source_stores(settings, SOURCES)
