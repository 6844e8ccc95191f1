"""Settings of the career events service: the platform's `BVB_*` settings and its own."""

from typing import Final

from pydantic import Field

from bilet.settings import PlatformSettings

SERVICE_NAME: Final = "events"
POSTGRES_SCHEMA: Final = "bvb_events"


class EventsSettings(PlatformSettings):
    # The PostgreSQL schema of the event store (`BVB_EVENTS_STORE_SCHEMA`).
    events_store_schema: str = POSTGRES_SCHEMA
    # Follow identity's and consent's stores (and its own) in-process (embedded) rather than
    # leaving the facts and catalogue read model to the worker (`python -m bilet_events.worker`).
    events_embedded_feed: bool = True
    # Load the demo's career events and their 2019 history (the embedded host does).
    events_demo_data: bool = False
    # Until how many hours before a session starts a pupil or their school may give up a booking
    # (`BVB_EVENTS_CANCELLATION_NOTICE_HOURS`).
    events_cancellation_notice_hours: int = Field(default=24, ge=0, le=24 * 30)
