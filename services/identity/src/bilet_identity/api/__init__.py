"""HTTP API of the identity service (`/identity/v1/...`): routers, request and response models,
and the mapping of refusals to problem+json."""
