"""Diagnostics' events in its store (`bilet.application.EventLog`): published events through
`bilet.contracts`, the internal ones (`bilet_diagnostics.domain.internal`) through their
registry."""

from typing import Final

from bilet.application import EventLog
from bilet_diagnostics.domain.internal import INTERNAL_CATEGORIES, INTERNAL_EVENTS

EVENT_LOG: Final = EventLog(INTERNAL_EVENTS, INTERNAL_CATEGORIES)
