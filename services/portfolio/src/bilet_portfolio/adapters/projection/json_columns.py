"""The JSON columns the projection's handlers write, made by orjson: byte for byte the text of
`adapters.json_text.to_json` (the read model's one canonical encoding: keys sorted, no spaces,
non-ASCII kept as it is), at a fraction of the standard library's CPU (ADR 0079).

The two encoders agree on everything the catalogue's events carry: strings (the same escapes:
`\\"`, `\\\\`, `\\n`, `\\r`, `\\t`, `\\b`, `\\f`, other control characters as `\\u00xx`),
integers, booleans, null, lists and tuples, dicts with string keys sorted by code point. What
orjson refuses (an integer beyond 64 bits, a key that is not a string, a lone surrogate) goes to
the standard encoder instead, so such a value is still written as before. Floats are the one
place they would differ (`1e+16` against `1e16`): no event of the catalogue has a float field
(a test keeps it so), and a float is never written through here."""

from typing import Any, Final

import orjson

from bilet_portfolio.adapters import json_text

_SORTED_KEYS: Final = orjson.OPT_SORT_KEYS


def to_json(value: Any) -> str:
    """The canonical JSON text of `value` (as `json_text.to_json`)."""
    try:
        return orjson.dumps(value, option=_SORTED_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError: what orjson does not encode, the standard does
        return json_text.to_json(value)
