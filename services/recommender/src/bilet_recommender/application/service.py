"""The recommender's use cases: its groups composed over one core (`base.RecommenderCore`)."""

from bilet_recommender.application.insights import InsightQueries
from bilet_recommender.application.opportunities import OpportunityCommands
from bilet_recommender.application.queries import RecommendationQueries


class RecommenderService(RecommendationQueries, OpportunityCommands, InsightQueries):
    """A participant's recommendations, explained; coordinators' courses and clubs; a region's
    insights."""
