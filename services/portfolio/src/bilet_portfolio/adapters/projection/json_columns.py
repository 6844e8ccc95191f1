"""The JSON columns the projection's handlers write, made by orjson: byte for byte the text of
`adapters.json_text.to_json` (the read model's one canonical encoding: keys sorted, no spaces,
non-ASCII kept as it is), at a fraction of the standard library's CPU (ADR 0079). The encoder is
`json_text.to_json_fast` (the document's render uses it too, ADR 0097); its module says where the
two encoders agree and why floats never reach it."""

from typing import Any

from bilet_portfolio.adapters import json_text


def to_json(value: Any) -> str:
    """The canonical JSON text of `value` (as `json_text.to_json`)."""
    return json_text.to_json_fast(value)
