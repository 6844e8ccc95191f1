"""HTTP routers, request and response models, and authorisation dependencies."""
