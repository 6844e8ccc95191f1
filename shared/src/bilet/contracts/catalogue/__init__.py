"""The published events of all six services, one module per producing service.

Importing this package registers every event version and upcaster in `CATALOGUE` and checks it.
The portfolio service publishes no events: it is a read model of the others.
"""

from bilet.contracts.catalogue import (
    consent,
    diagnostics,
    events,
    events_superseded,
    identity,
    recommender,
    recommender_superseded,
)
from bilet.contracts.registry import CATALOGUE

CATALOGUE.check()

__all__ = [
    "CATALOGUE",
    "consent",
    "diagnostics",
    "events",
    "events_superseded",
    "identity",
    "recommender",
    "recommender_superseded",
]
