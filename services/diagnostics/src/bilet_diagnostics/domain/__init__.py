"""Deciders of this service: pure decide/evolve functions and their events, no I/O."""
