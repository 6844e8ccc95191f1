"""Bilet Recommender service.

Individual study plans and regional opportunities derived from the portfolio.
"""
