"""The outside world of this service: event store, bus, read-model tables, other systems."""
