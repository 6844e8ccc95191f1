"""The routers of `/diagnostics/v1`, one module per group of routes."""
