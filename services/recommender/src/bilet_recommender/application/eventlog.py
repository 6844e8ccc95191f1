"""The recommender's events in its store (`bilet.application.EventLog`): published ones
(`RecommendationsIssued`) through `bilet.contracts`, internal ones (`domain.internal`: the
coordinators' opportunities) through their registry."""

from typing import Final

from bilet.application import EventLog
from bilet_recommender.domain.internal import INTERNAL_CATEGORIES, INTERNAL_EVENTS

EVENT_LOG: Final = EventLog(INTERNAL_EVENTS, INTERNAL_CATEGORIES)
