"""What `bvb migrate --service portfolio` makes (ADR 0057): the small event store of its reads'
audit trail and the portfolio read model's live tables."""

from bilet.migrate import migrate_stores
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.stores import open_audit_store, open_read_model
from bilet_portfolio.settings import PortfolioSettings


async def migrate() -> None:
    settings = PortfolioSettings()
    await migrate_stores(
        lambda: open_audit_store(settings),
        lambda: open_read_model(settings),
        lambda _: [PortfolioProjection()],
    )
