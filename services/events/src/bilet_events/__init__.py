"""Bilet Career events service.

Career events (профпробы): catalogue, booking, attendance and mentor feedback.
"""
