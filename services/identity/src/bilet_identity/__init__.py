"""Bilet Identity service.

Regions, schools and participants: registration by the school, one profile per child.
"""
