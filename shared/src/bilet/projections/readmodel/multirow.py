"""Many rows of a single-row INSERT in one statement (ADR 0089): a projection's upsert sent for a
whole batch as a few statements over arrays (`unnest`) instead of one statement per row.

A statement qualifies only in the shape `INSERT INTO t (columns) VALUES (items)
[ON CONFLICT (columns) DO UPDATE SET … | DO NOTHING]`, each item a parameter or a plain literal,
with no parameter, subquery or RETURNING after VALUES: such a statement touches one row, the one
its conflict key names (or a new one), so rows with different keys give the same end state in any
order, sent together. Rows of one key keep their order in successive *rounds* (a statement cannot
upsert a row twice: `rounds`), and each round sees the ones before it, as each row saw the rows
before it. Anything else is sent as it was, a statement per row.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

_LITERAL: Final = r"'(?:[^']|'')*'"
_STATEMENT: Final = re.compile(
    r"INSERT INTO (?P<table>[a-z_][a-z0-9_.]*) \((?P<columns>[a-z0-9_, ]+)\) "  # noqa: S608
    rf"VALUES \((?P<values>(?:{_LITERAL}|[^'()])*)\)(?P<tail>.*)",
    re.DOTALL | re.IGNORECASE,
)
_TAIL: Final = re.compile(
    r" ON CONFLICT \((?P<target>[a-z0-9_, ]+)\) DO (?:NOTHING|UPDATE SET (?P<set>.+))",
    re.DOTALL | re.IGNORECASE,
)
_ITEM: Final = re.compile(
    rf"\$(?P<parameter>[1-9][0-9]*)|-?[0-9]+(?:\.[0-9]+)?|NULL|TRUE|FALSE|{_LITERAL}",
    re.IGNORECASE,
)
_ITEMS: Final = re.compile(rf"\s*((?:{_LITERAL}|[^',])+?)\s*(?:,|$)")
# After VALUES: a parameter cannot be mapped onto the arrays; a subquery would read a snapshot
# without the statement's own earlier rows; RETURNING is not a write's business.
_REFUSED_IN_TAIL: Final = re.compile(r"\$|\bSELECT\b|\bRETURNING\b", re.IGNORECASE)
# The update's assignments, `col = expression` each (an expression without parentheses).
_ASSIGNED: Final = re.compile(rf"(?:^|,)\s*([a-z0-9_]+)\s*=\s*(?:{_LITERAL}|[^',])*", re.IGNORECASE)
# Keys compared in Python exactly as PostgreSQL compares them (a UUID given as text and as a
# `UUID`, naive and aware times, `citext`, NaN: not so): only these types make up a key.
_EXACT_KEYS: Final = frozenset({"text", "varchar", "int2", "int4", "int8", "bool", "bytea"})
_ROWS: Final = "bvb_rows"


@dataclass(frozen=True, slots=True)
class MultiRowShape:
    """A single-row INSERT that `unnest_statement` can send for many rows. `key` holds the
    (0-based) parameters that make up its conflict key, () when it has none (a plain INSERT:
    one round, a duplicate fails as it did row by row)."""

    table: str  # "t", as the statement names it
    head: str  # "INSERT INTO t (a, b, c)"
    items: tuple[int | str, ...]  # per column: a parameter's 0-based index, or a literal
    tail: str  # " ON CONFLICT (a) DO UPDATE SET …", or ""
    parameters: int
    key: tuple[int, ...]


def multirow_shape(text: str) -> MultiRowShape | None:
    """The statement's shape, if it is a single-row INSERT that may be sent for many rows."""
    statement = _STATEMENT.fullmatch(text.strip())
    if statement is None:
        return None
    tail = statement["tail"]
    if _REFUSED_IN_TAIL.search(tail):
        return None
    target = None
    if tail.strip():
        if (conflict := _TAIL.fullmatch(tail)) is None:
            return None
        target = _names(conflict["target"])
        if (assignments := conflict["set"]) is not None and not _plain_update(assignments, target):
            return None
    names = _names(statement["columns"])
    items: list[int | str] = []
    for raw in _ITEMS.findall(statement["values"]):
        if (item := _ITEM.fullmatch(raw)) is None:
            return None
        items.append(int(item["parameter"]) - 1 if item["parameter"] else raw)
    used = {item for item in items if isinstance(item, int)}
    if len(items) != len(names) or used != set(range(len(used))):
        return None  # a column without its item, or a parameter not among VALUES
    key: list[int] = []
    for name in target or ():
        if name not in names:
            return None  # keyed by a default: unknown here
        if isinstance(value := items[names.index(name)], int) and value not in key:
            key.append(value)
    if target is not None and not key:
        return None  # every row would have the same key: nothing to gain
    head = f"INSERT INTO {statement['table']} ({', '.join(names)})"
    return MultiRowShape(statement["table"], head, tuple(items), tail, len(used), tuple(key))


def _names(listed: str) -> list[str]:
    return [name.strip() for name in listed.split(",")]


def _plain_update(update: str, target: Sequence[str]) -> bool:
    """True if the update (its assignments and any WHERE) calls nothing and reads no table (no
    parenthesis outside a literal: a function's result, a sequence's next value or a table's
    rows would depend on the rows' order, which rounds change), and none of its assignments
    changes a column of the conflict key (a row would move to another key, unknown to rounds)."""
    if "(" in re.sub(_LITERAL, "", update):
        return False
    assignments = re.split(r"\sWHERE\s", update, maxsplit=1, flags=re.IGNORECASE)[0]
    assigned = {name.lower() for name in _ASSIGNED.findall(assignments)}
    return not assigned & {name.lower() for name in target}


def unnest_statement(shape: MultiRowShape, types: Sequence[tuple[str, str]]) -> str | None:
    """The statement for many rows at once, each parameter an array of its (schema, type) —
    as PostgreSQL typed it for the single-row statement —; None if a type cannot be an array's
    element here (an array itself, or an inexact key)."""
    if len(types) != shape.parameters:
        return None
    for schema, name in types:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema) or not re.fullmatch(
            r"[a-z][a-z0-9_]*", name
        ):
            return None  # arrays are `_name`; anything unusual stays row by row
    if any(
        types[index][0] != "pg_catalog" or types[index][1] not in _EXACT_KEYS for index in shape.key
    ):
        return None
    arrays = ", ".join(
        f"${number}::{schema}.{name}[]" for number, (schema, name) in enumerate(types, start=1)
    )
    aliases = ", ".join(f"c{number}" for number in range(1, shape.parameters + 1))
    selected = ", ".join(
        f"{_ROWS}.c{item + 1}" if isinstance(item, int) else item for item in shape.items
    )
    # The projection's own statement, its parts rearranged: nothing from outside enters it.
    return (
        f"{shape.head} SELECT {selected} "  # noqa: S608
        f"FROM unnest({arrays}) AS {_ROWS}({aliases}){shape.tail}"
    )


def rounds(rows: Sequence[Sequence[Any]], key: Sequence[int]) -> list[list[Sequence[Any]]] | None:
    """The rows in rounds: a row goes to the round after the last one holding a row of its key,
    so each round has a key at most once and a key's rows stay in order. Without a key, one
    round; None if a key's value cannot be compared here (not hashable)."""
    if not key:
        return [list(rows)]
    key_of = itemgetter(*key)  # a key of one column is its value, of several a tuple
    seen: dict[Any, int] = {}
    result: list[list[Sequence[Any]]] = []
    try:
        for row in rows:
            of = key_of(row)
            number = seen.get(of, 0)
            seen[of] = number + 1
            if number == len(result):
                result.append([row])
            else:
                result[number].append(row)
    except TypeError:
        return None
    return result


def columns(rows: Sequence[Sequence[Any]], parameters: int) -> tuple[list[Any], ...]:
    """One round's rows as the statement's arrays, one per parameter."""
    if not rows:
        return tuple([] for _ in range(parameters))
    return tuple(list(column) for column in zip(*rows, strict=True))
