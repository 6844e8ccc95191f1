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

`from_json` reads with orjson too, and keeps what it read only if orjson writes it back as the
very text it was given: orjson does not refuse an integer beyond 64 bits, it reads it as a float
(2**64 + 1 as 1.8446744073709552e+19), and the contract allows such integers (counts and scores
have a lower bound only). Such a float is written back with its exponent (`e+19`), never as the
integer's digits, so the text differs and the standard decoder, which reads any integer exactly,
reads it; so does any text orjson refuses (a lone surrogate, a number beyond a double) or would
write otherwise (not canonical: spaces, other escapes), at the standard decoder's cost. The
columns are canonical, so they take the fast way: a read with the check costs ~1.6 times
orjson's alone and ~0.65 times the standard decoder's (a recommendation set's columns,
`process_time`), where a search for a run of 19 digits first (`re`) cost ~6 times orjson's,
more than the standard decoder."""

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
        value = orjson.loads(text)
    except orjson.JSONDecodeError:  # a lone surrogate, a number beyond a double
        return json.loads(text)
    # Written back otherwise: maybe an integer beyond 64 bits made a float (the module's note).
    if orjson.dumps(value).decode() != text:
        return json.loads(text)
    return value
