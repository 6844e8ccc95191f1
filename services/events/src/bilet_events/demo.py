"""The demo's career events (`make run`): the placeholder the app calls when `events_demo_data`
is set. It loads nothing yet: the Luga career events and their 2019 history come with the demo
of issue #14 (docs/adr/0034), which replaces this module keeping its one entry point."""

from bilet_events.runtime import Runtime
from bilet_events.settings import EventsSettings


async def load_demo_data(runtime: Runtime, settings: EventsSettings) -> None:
    """Load the demo's career events into `runtime`'s store (idempotent on restart)."""
    del runtime, settings  # nothing to load until the demo lands
