"""The six services of the suite, by the name that addresses each (prefix, database, topics)."""

from typing import Final

SERVICE_NAMES: Final[tuple[str, ...]] = (
    "identity",
    "consent",
    "diagnostics",
    "events",
    "portfolio",
    "recommender",
)
