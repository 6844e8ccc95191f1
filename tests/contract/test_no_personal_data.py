"""No readable personal data in any published event (ARCHITECTURE §3, 152-FZ): every text a
published event can carry is sealed, constrained to codes, ids, dates or closed lists, or
explicitly public organisational text; personal concepts appear only as sealed fields; health data
(a special category, ARCHITECTURE §8) only sealed with the health key (docs/adr/0017)."""

from collections.abc import Iterator
from typing import Any

import pytest

from bilet.contracts import CATALOGUE
from bilet.contracts.schemas import event_schema
from bilet.contracts.sealed import KEY_KEYWORD, SEALED_KEYWORD, KeyScope
from bilet.contracts.vocabulary import PUBLIC_KEYWORD

MODELS = list(CATALOGUE.all_versions())
# A field named with one of these words is about a person: it must be sealed.
PERSONAL_WORDS = (
    "full_name",
    "first_name",
    "last_name",
    "patronymic",
    "birth",
    "snils",
    "passport",
    "health",
    "diagnosis",
    "comment",
    "contact",
    "phone",
    "email",
    "authority",
)
CONSTRAINED = ("enum", "const", "pattern", "format")
# A field named with one of these words holds health data: sealed with the health key, so that a
# withdrawal of the consent to process it destroys it alone.
HEALTH_WORDS = ("health", "accessibility", "diagnosis", "disability")
# Newest versions that still carry health-derived data otherwise, each with the reason. None
# since SeatBooked v2 seals the venue-requirements summary with the health key (docs/adr/0027).
HEALTH_EXEMPT: frozenset[tuple[str, str]] = frozenset()


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _strings(
    root: dict[str, Any], node: dict[str, Any], path: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every string-typed leaf a piece of data can reach, not looking inside sealed values."""
    if SEALED_KEYWORD in node:
        return
    node = _resolve(root, node)
    for variant in node.get("anyOf", []):
        yield from _strings(root, variant, path)
    if node.get("type") == "string":
        yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _strings(root, child, f"{path}.{name}" if path else name)
    if "items" in node:
        yield from _strings(root, node["items"], f"{path}[]")


def _fields(
    root: dict[str, Any], node: dict[str, Any], path: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    node = _resolve(root, node)
    for variant in node.get("anyOf", []):
        yield from _fields(root, variant, path)
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        if SEALED_KEYWORD not in child:
            yield from _fields(root, child, child_path)
    if "items" in node:
        yield from _fields(root, node["items"], f"{path}[]")


def _free_text(schema: dict[str, Any]) -> list[str]:
    return [
        path
        for path, node in _strings(schema, schema, "")
        if not any(keyword in node for keyword in CONSTRAINED) and not node.get(PUBLIC_KEYWORD)
    ]


def _unsealed_personal(schema: dict[str, Any]) -> list[str]:
    problems = []
    for path, node in _fields(schema, schema):
        name = path.rsplit(".", 1)[-1].removesuffix("[]")
        if (
            any(f"_{word}_" in f"_{name}_" for word in PERSONAL_WORDS)
            and SEALED_KEYWORD not in node
        ):
            problems.append(f"{path} is personal: make it Sealed")
        # FieldCipher seals top-level fields only; nested ones could not be opened or erased.
        if SEALED_KEYWORD in node and ("." in path or "[]" in path):
            problems.append(f"{path}: sealed fields are top-level")
        if SEALED_KEYWORD in node and not node[SEALED_KEYWORD]:
            problems.append(f"{path}: say what the sealed plaintext is")
    return problems


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.event_type}.v{m.schema_version}")
def test_every_text_is_sealed_constrained_or_declared_public(model: Any) -> None:
    assert _free_text(event_schema(model)) == [], (
        "seal it, constrain it, or declare it public_text (never about a person)"
    )


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.event_type}.v{m.schema_version}")
def test_personal_concepts_are_sealed_and_only_at_the_top(model: Any) -> None:
    assert _unsealed_personal(event_schema(model)) == []


def _health_not_under_its_key(event_type: str, schema: dict[str, Any]) -> list[str]:
    problems = []
    for path, node in _fields(schema, schema):
        name = path.rsplit(".", 1)[-1].removesuffix("[]")
        if not any(f"_{word}_" in f"_{name}_" for word in HEALTH_WORDS):
            continue
        if (event_type, path) in HEALTH_EXEMPT:
            continue
        if node.get(KEY_KEYWORD) != KeyScope.HEALTH.value:
            problems.append(f"{path} is health data: seal it with KeyScope.HEALTH")
    return problems


@pytest.mark.parametrize(
    "event_type",
    CATALOGUE.event_types(),
    ids=lambda t: f"{t}.v{CATALOGUE.latest(t).schema_version}",
)
def test_health_data_is_sealed_with_the_health_key_in_every_newest_version(
    event_type: str,
) -> None:
    # Older versions are only read, and their upcasters withhold health data (docs/adr/0017).
    schema = event_schema(CATALOGUE.latest(event_type))
    assert _health_not_under_its_key(event_type, schema) == []


def test_the_guards_catch_free_text_and_personal_fields() -> None:
    sealed = {"anyOf": [], SEALED_KEYWORD: "string"}
    schema = {
        "type": "object",
        "properties": {
            "note": {"type": "string"},
            "school": {"type": "string", PUBLIC_KEYWORD: True},
            "code": {"type": "string", "pattern": "^[a-z]+$"},
            "pupil": {"type": "object", "properties": {"birth_date": {"type": "string"}}},
            "mentor_comment": {"type": "string", "format": "uuid"},
            "guardian": {"type": "object", "properties": {"passport": sealed}},
            "healthy": {"type": "integer"},
            "accessibility_needs": {"type": "array", "items": {"type": "string", "enum": ["x"]}},
            "health_limitations": {**sealed, KEY_KEYWORD: KeyScope.HEALTH.value},
        },
    }
    assert _free_text(schema) == ["note", "pupil.birth_date"]
    assert _unsealed_personal(schema) == [
        "pupil.birth_date is personal: make it Sealed",
        "mentor_comment is personal: make it Sealed",
        "guardian.passport: sealed fields are top-level",
    ]
    assert _health_not_under_its_key("Example", schema) == [
        "accessibility_needs is health data: seal it with KeyScope.HEALTH",
    ]
