"""Bilet Diagnostics service.

The three online diagnostics stages: instruments, answers and scores.
"""
