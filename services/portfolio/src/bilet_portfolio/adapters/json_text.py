"""The read model's JSON columns: one canonical encoding (so SQLite and PostgreSQL hold byte-equal
rows, and a document rendered twice is the same text) and its reading back."""

import json
from typing import Any


def to_json(value: Any) -> str:
    """One canonical JSON text per value: keys sorted, no spaces, non-ASCII kept as it is."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def from_json(text: str | None, default: Any = None) -> Any:
    """A JSON column's value; `default` for NULL."""
    return default if text is None else json.loads(text)
