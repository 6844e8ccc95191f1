"""The read model's JSON columns: one canonical encoding (so SQLite and PostgreSQL hold byte-equal
rows, and a document rendered twice is the same text) and its reading back.

`to_json` is the definition (the standard library's encoder); `to_json_fast` writes the same text
with orjson at a fraction of the CPU, for the projection's columns and documents (ADR 0079, ADR
0097). The two agree on everything the catalogue's events carry — strings (the same escapes),
integers, booleans, null, lists, dicts with string keys sorted by code point; what orjson refuses
(an integer beyond 64 bits, a key that is not a string, a lone surrogate) goes to the standard
encoder, so it is still written the same. Floats are the one place they would differ (`1e+16`
against `1e16`): no event of the catalogue has a float field (a test keeps it so), so no column
or document holds one. `from_json` reads with orjson too (the same values; what it refuses, the
standard decoder reads)."""

import json
from typing import Any, Final

import orjson

_SORTED_KEYS: Final = orjson.OPT_SORT_KEYS


def to_json(value: Any) -> str:
    """One canonical JSON text per value: keys sorted, no spaces, non-ASCII kept as it is."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def to_json_fast(value: Any) -> str:
    """The canonical JSON text of `value` (as `to_json`), by orjson."""
    try:
        return orjson.dumps(value, option=_SORTED_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError: what orjson does not encode, the standard does
        return to_json(value)


def from_json(text: str | None, default: Any = None) -> Any:
    """A JSON column's value; `default` for NULL."""
    if text is None:
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # an integer beyond 64 bits: the standard decoder reads it
        return json.loads(text)
