"""The JSON columns the projection's handlers write, made by orjson: byte for byte the text of
`adapters.json_text.to_json` (the read model's one canonical encoding: keys sorted, no spaces,
non-ASCII kept as it is), at a fraction of the standard library's CPU (ADR 0079). The encoder is
`json_text.to_json_fast` itself (the document's render uses it too, ADR 0097), not a wrapper: it
runs once per JSON column. Its module says where the two encoders agree and why floats never
reach it. The handlers import `to_json` from here by name, so a test can swap it per module."""

from bilet_portfolio.adapters.json_text import to_json_fast as to_json

__all__ = ["to_json"]
