"""Bilet Portfolio service.

The participant's digital portfolio, read by pupils, guardians and navigators.
"""
