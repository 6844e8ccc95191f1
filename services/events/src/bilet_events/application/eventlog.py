"""The career events service's events in its store (`bilet.application.EventLog`): published
ones through `bilet.contracts`, internal ones (`bilet_events.domain.internal`) through their
registry."""

from typing import Final

from bilet.application import EventLog
from bilet_events.domain.internal import INTERNAL_CATEGORIES, INTERNAL_EVENTS

EVENT_LOG: Final = EventLog(INTERNAL_EVENTS, INTERNAL_CATEGORIES)
