"""Deterministic YAML for JSON-shaped data (dicts with string keys, lists, strings, numbers,
booleans, null), so generated documents do not churn and need no YAML library at run time.

Block style, two-space indentation, keys in the order given. A string is written plain only when
it cannot be read as anything else; multi-line text as a literal block; everything else as a
JSON string, which is also a valid YAML double-quoted scalar.
"""

import json
import re
from typing import Any, Final

# Starts with a letter, holds no indicator that could end or change a plain scalar (`: `, ` #`,
# quotes, brackets), does not end in a space.
_PLAIN: Final = re.compile(r"^(?:[^\W\d]|\$)[\w $./(),«»–—-]*(?<! )$")
# YAML 1.1 readers (PyYAML among them) take these as booleans or null.
_RESERVED: Final = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def dump(document: dict[str, Any]) -> str:
    """The document as YAML text, ending in a newline."""
    lines: list[str] = []
    _mapping(document, 0, lines)
    return "\n".join(lines) + "\n"


def _string(text: str) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    # Unusual characters (line separators, controls) are escaped rather than written raw.
    if not all(character.isprintable() for character in quoted):
        quoted = json.dumps(text, ensure_ascii=True)
    return quoted


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"not JSON-shaped: {type(value).__name__}")


def _literal_block(text: str, indent: int) -> list[str] | None:
    """A multi-line string as `|-` and its lines, when that reads back exactly."""
    if "\n" not in text or text.endswith(("\n", " ")) or text.startswith((" ", "\n")):
        return None
    lines = text.split("\n")
    if any(line != line.rstrip() or not line.isprintable() for line in lines):
        return None
    pad = " " * indent
    return ["|-", *(f"{pad}{line}" if line else "" for line in lines)]


def _inline(value: object, indent: int) -> list[str] | None:
    """`value` on the line of its key or dash, plus continuation lines; None if it is a block."""
    if isinstance(value, dict):
        return ["{}"] if not value else None
    if isinstance(value, list):
        return ["[]"] if not value else None
    if isinstance(value, str) and (block := _literal_block(value, indent)) is not None:
        return block
    return [_scalar(value)]


def _mapping(mapping: dict[str, Any], indent: int, lines: list[str], first: str = "") -> None:
    pad = " " * indent
    for position, (key, value) in enumerate(mapping.items()):
        if not isinstance(key, str):
            raise TypeError("mapping keys are strings")
        lead = first if position == 0 and first else pad
        inline = _inline(value, indent + 2)
        if inline is not None:
            lines.append(f"{lead}{_string(key)}: {inline[0]}")
            lines.extend(inline[1:])
        elif isinstance(value, dict):
            lines.append(f"{lead}{_string(key)}:")
            _mapping(value, indent + 2, lines)
        else:
            lines.append(f"{lead}{_string(key)}:")
            _sequence(value, indent + 2, lines)


def _sequence(items: list[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        inline = _inline(item, indent + 2)
        if inline is not None:
            lines.append(f"{pad}- {inline[0]}")
            lines.extend(inline[1:])
        elif isinstance(item, dict):
            _mapping(item, indent + 2, lines, first=f"{pad}- ")
        else:
            lines.append(f"{pad}-")
            _sequence(item, indent + 2, lines)
