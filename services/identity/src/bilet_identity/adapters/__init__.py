"""The identity service's outside world: its event store, key store and secrets, from settings."""
