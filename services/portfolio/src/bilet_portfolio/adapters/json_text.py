"""The read model's JSON columns: one canonical encoding (so SQLite and PostgreSQL hold byte-equal
rows, and a document rendered twice is the same text) and its reading back.

`to_json` is the definition (the standard library's encoder); `to_json_fast` writes the same text
with orjson at a fraction of the CPU, for the projection's columns and documents (ADR 0079, ADR
0097). The two agree on everything the catalogue's events carry — strings (the same escapes),
integers, booleans, null, lists, dicts with string keys sorted by code point; what orjson refuses
(an integer beyond 64 bits, a key that is not a string, a lone surrogate) goes to the standard
encoder, so it is still written the same. Floats are the one place they would differ (`1e-07`
against `1e-7`): no event of the catalogue has a float field (a test keeps it so), so no column
or document holds one.

`from_json` reads with orjson too, except a text with a run of 19 digits or more: orjson does not
refuse an integer beyond 64 bits, it reads it as a float (2**64 + 1 as 1.8446744073709552e+19),
and the contract allows such integers (counts and scores have a lower bound only). An integer of
18 digits or fewer is within 64 bits, so orjson reads it exactly; a longer run of digits (an
integer, or digits inside a string) goes to the standard decoder, which reads any integer
exactly. What orjson refuses (a lone surrogate in the text) goes there too."""

import json
import re
from typing import Any, Final

import orjson

_SORTED_KEYS: Final = orjson.OPT_SORT_KEYS
# A run of digits that may be an integer beyond 64 bits (-(2**63) - 1 has 19 digits; every
# integer of 18 digits or fewer fits).
_LONG_DIGITS: Final = re.compile(r"\d{19}")


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
    if _LONG_DIGITS.search(text):  # maybe beyond 64 bits: orjson would make it a float
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # not UTF-8 (a lone surrogate): the standard decoder reads it
        return json.loads(text)
