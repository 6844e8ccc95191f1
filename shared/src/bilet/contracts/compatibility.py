"""Would a changed schema of a *published* event version break its readers? A small, explicit
checker over two JSON Schemas (the committed one and the one the code generates now).

Two kinds of reader can break:
- **stored events**: the history already holds events written under the published schema; the
  new code must still read every one of them (removed or renamed fields, type changes, new
  required fields, narrower constraints or closed lists, changed defaults);
- **older readers**: services still running the previous code refuse what the new code writes,
  because events forbid unknown fields (new optional fields, wider closed lists or constraints,
  fields that may now be missing or null).

Either is a reason to publish a new version with an upcaster instead. Titles, descriptions and
examples may change freely. `$ref`s are compared by what they point to, not by name.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

Breaks = Literal["stored events", "older readers", "both"]
Schema = dict[str, Any]

# Annotations: changing them changes no reader's behaviour.
_ANNOTATIONS: Final = frozenset(
    {"title", "description", "examples", "$comment", "$schema", "$id", "x-bilet-superseded-by"}
)
_LOWER_BOUNDS: Final = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS: Final = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_HANDLED: Final = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "$ref",
        "$defs",
        "definitions",
        "default",
        "uniqueItems",
        "additionalProperties",
        *_LOWER_BOUNDS,
        *_UPPER_BOUNDS,
    }
)


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One change that breaks readers: where, what, and which readers."""

    path: str
    change: str
    breaks: Breaks

    def __str__(self) -> str:
        return f"{self.path or '(event)'}: {self.change} — breaks {self.breaks}"


def incompatibilities(published: Schema, current: Schema) -> list[Incompatibility]:
    """Every change from `published` to `current` that would break a reader (empty: compatible)."""
    return list(_Comparison(published, current).compare(published, current, ""))


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self._old_root = old_root
        self._new_root = new_root

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _resolve(root: Schema, node: Schema) -> Schema:
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            reference = node["$ref"]
            if not isinstance(reference, str) or not reference.startswith("#/"):
                raise ValueError(f"only local references are compared, not {reference!r}")
            if reference in seen:
                raise ValueError(f"reference cycle at {reference}")
            seen.add(reference)
            target: Any = root
            for part in reference[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            # Keywords beside a $ref apply too (draft 2020-12); pydantic puts annotations there.
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def _canonical(self, root: Schema, node: Any, depth: int = 0) -> Any:
        if depth > 64:
            raise ValueError("schema nested too deeply (a recursive schema?)")
        if isinstance(node, dict):
            node = self._resolve(root, node)
            return {
                key: self._canonical(root, value, depth + 1)
                for key, value in sorted(node.items())
                if key not in _ANNOTATIONS and key not in ("$defs", "definitions")
            }
        if isinstance(node, list):
            return [self._canonical(root, item, depth + 1) for item in node]
        return node

    def _same(self, old: Any, new: Any) -> bool:
        return bool(self._canonical(self._old_root, old) == self._canonical(self._new_root, new))

    @staticmethod
    def _variants(node: Schema) -> list[Any]:
        for keyword in ("anyOf", "oneOf"):
            if keyword in node:
                return list(node[keyword])
        return [node]

    @staticmethod
    def _is_null(node: Any) -> bool:
        return isinstance(node, dict) and node.get("type") == "null"

    @staticmethod
    def _types(node: Schema) -> frozenset[str]:
        declared = node.get("type")
        if isinstance(declared, str):
            return frozenset({declared})
        if isinstance(declared, list):
            return frozenset(declared)
        if "properties" in node:
            return frozenset({"object"})
        return frozenset()

    @staticmethod
    def _values(node: Schema) -> set[str] | None:
        if "const" in node:
            return {json.dumps(node["const"], sort_keys=True)}
        if "enum" in node:
            return {json.dumps(value, sort_keys=True) for value in node["enum"]}
        return None

    # ------------------------------------------------------------------ comparison
    def compare(self, old: Schema, new: Schema, path: str) -> Iterator[Incompatibility]:
        old = self._resolve(self._old_root, old)
        new = self._resolve(self._new_root, new)
        if self._same(old, new):
            return
        old_variants, new_variants = self._variants(old), self._variants(new)
        if len(old_variants) > 1 or len(new_variants) > 1:
            yield from self._compare_variants(old, new, old_variants, new_variants, path)
        else:
            yield from self._compare_node(old, new, path)

    def _compare_variants(
        self,
        old: Schema,
        new: Schema,
        old_variants: list[Any],
        new_variants: list[Any],
        path: str,
    ) -> Iterator[Incompatibility]:
        old_null = any(self._is_null(v) for v in old_variants)
        new_null = any(self._is_null(v) for v in new_variants)
        if old_null and not new_null:
            yield Incompatibility(path, "may no longer be null", "stored events")
        if new_null and not old_null:
            yield Incompatibility(path, "may now be null", "older readers")
        olds = [v for v in old_variants if not self._is_null(v)]
        news = [v for v in new_variants if not self._is_null(v)]
        unmatched_old = [v for v in olds if not any(self._same(v, n) for n in news)]
        unmatched_new = [n for n in news if not any(self._same(v, n) for v in olds)]
        if len(unmatched_old) == 1 and len(unmatched_new) == 1:
            yield from self.compare(unmatched_old[0], unmatched_new[0], path)
        else:
            if unmatched_old:
                yield Incompatibility(
                    path, f"{len(unmatched_old)} accepted form(s) removed", "stored events"
                )
            if unmatched_new:
                yield Incompatibility(
                    path, f"{len(unmatched_new)} accepted form(s) added", "older readers"
                )
        yield from self._compare_default(old, new, path)
        yield from self._compare_other(old, new, path)

    def _compare_other(self, old: Schema, new: Schema, path: str) -> Iterator[Incompatibility]:
        for keyword in sorted((set(old) | set(new)) - _HANDLED - _ANNOTATIONS):
            if not self._same(old.get(keyword), new.get(keyword)):
                yield Incompatibility(path, f"{keyword!r} changed", "both")

    def _compare_default(self, old: Schema, new: Schema, path: str) -> Iterator[Incompatibility]:
        if ("default" in old or "default" in new) and old.get("default") != new.get("default"):
            yield Incompatibility(
                path, "default changed: a missing value now reads differently", "stored events"
            )

    def _compare_node(self, old: Schema, new: Schema, path: str) -> Iterator[Incompatibility]:
        old_types, new_types = self._types(old), self._types(new)
        if old_types != new_types:
            before = "/".join(sorted(old_types)) or "any"
            after = "/".join(sorted(new_types)) or "any"
            yield Incompatibility(path, f"type changed from {before} to {after}", "both")
            return
        yield from self._compare_values(old, new, path)
        yield from self._compare_bounds(old, new, path)
        yield from self._compare_default(old, new, path)
        if "object" in old_types:
            yield from self._compare_object(old, new, path)
        if "array" in old_types and ("items" in old or "items" in new):
            yield from self.compare(old.get("items", {}), new.get("items", {}), f"{path}[]")
        yield from self._compare_other(old, new, path)

    def _compare_values(self, old: Schema, new: Schema, path: str) -> Iterator[Incompatibility]:
        old_values, new_values = self._values(old), self._values(new)
        if old_values == new_values:
            return
        if new_values is not None and (old_values is None or old_values - new_values):
            removed = sorted(old_values - new_values) if old_values is not None else []
            change = (
                f"values {', '.join(removed)} no longer accepted"
                if removed
                else "now a closed list"
            )
            yield Incompatibility(path, change, "stored events")
        if old_values is not None and (new_values is None or new_values - old_values):
            added = sorted(new_values - old_values) if new_values is not None else []
            change = f"new values {', '.join(added)}" if added else "no longer a closed list"
            yield Incompatibility(path, change, "older readers")

    def _compare_bounds(self, old: Schema, new: Schema, path: str) -> Iterator[Incompatibility]:
        for keyword in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            lower = keyword in _LOWER_BOUNDS
            if before is None or after is None:
                tighter = after is not None
            else:
                tighter = after > before if lower else after < before
            yield Incompatibility(
                path,
                f"{keyword} {before} → {after}",
                "stored events" if tighter else "older readers",
            )
        if bool(old.get("uniqueItems")) != bool(new.get("uniqueItems")):
            yield Incompatibility(
                path,
                "items must now be unique" if new.get("uniqueItems") else "items may now repeat",
                "stored events" if new.get("uniqueItems") else "older readers",
            )
        if old.get("additionalProperties", True) != new.get("additionalProperties", True):
            if new.get("additionalProperties", True) is False:
                yield Incompatibility(path, "unknown fields now refused", "stored events")
            else:
                yield Incompatibility(path, "unknown fields now allowed", "older readers")

    def _compare_object(self, old: Schema, new: Schema, path: str) -> Iterator[Incompatibility]:
        old_properties: dict[str, Any] = old.get("properties", {})
        new_properties: dict[str, Any] = new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        removed = [name for name in old_properties if name not in new_properties]
        added = [name for name in new_properties if name not in old_properties]
        renamed: dict[str, str] = {}
        for name in removed:
            for candidate in added:
                if candidate not in renamed.values() and self._same(
                    old_properties[name], new_properties[candidate]
                ):
                    renamed[name] = candidate
                    break
        prefix = f"{path}." if path else ""
        for name in removed:
            if name in renamed:
                yield Incompatibility(f"{prefix}{name}", f"renamed to {renamed[name]!r}", "both")
            else:
                yield Incompatibility(f"{prefix}{name}", "field removed", "stored events")
        for name in added:
            if name in renamed.values():
                continue
            if name in new_required:
                yield Incompatibility(f"{prefix}{name}", "new required field", "both")
            else:
                yield Incompatibility(f"{prefix}{name}", "new optional field", "older readers")
        for name in old_properties:
            if name not in new_properties:
                continue
            if name in new_required and name not in old_required:
                yield Incompatibility(f"{prefix}{name}", "now required", "stored events")
            if name in old_required and name not in new_required:
                yield Incompatibility(f"{prefix}{name}", "no longer required", "older readers")
            yield from self.compare(old_properties[name], new_properties[name], f"{prefix}{name}")
