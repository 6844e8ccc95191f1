"""`make contracts`: regenerate `docs/contracts/` from the catalogue and seed golden samples.

Writes `docs/contracts/schemas/<Type>.v<N>.json` and `docs/contracts/asyncapi.yaml`, and
`tests/contract/golden/<Type>.v<N>.json` for a version that has none yet (from its example;
an existing golden sample is never rewritten). Refuses, and writes nothing, when a published
version's schema changed in a way that breaks readers, or when a published version disappeared:
publish a new version with an upcaster instead (docs/adr/0006-event-contracts.md).

    python -m bilet.contracts.export [--root REPO] [--check]

`--check` writes nothing and exits 1 when a generated file is stale.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bilet.contracts import yamltext
from bilet.contracts.asyncapi import asyncapi_document
from bilet.contracts.catalogue import CATALOGUE
from bilet.contracts.compatibility import Incompatibility, incompatibilities
from bilet.contracts.examples import EXAMPLES
from bilet.contracts.registry import EventRegistry, JsonObject
from bilet.contracts.schemas import event_schema, schema_name

SCHEMAS_DIR: Final = Path("docs/contracts/schemas")
ASYNCAPI_FILE: Final = Path("docs/contracts/asyncapi.yaml")
GOLDEN_DIR: Final = Path("tests/contract/golden")


def json_text(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated_files(registry: EventRegistry = CATALOGUE) -> dict[Path, str]:
    """Every generated file (path relative to the repository) and its exact text."""
    files = {
        SCHEMAS_DIR / f"{schema_name(model)}.json": json_text(event_schema(model, registry))
        for model in registry.all_versions()
    }
    files[ASYNCAPI_FILE] = yamltext.dump(asyncapi_document(registry))
    return files


def golden_sample(event_type: str, version: int, registry: EventRegistry = CATALOGUE) -> JsonObject:
    """A stored event of that version: data from its example, metadata as a producer writes it."""
    model = registry.model(event_type, version)
    data = EXAMPLES[(event_type, version)]
    event = model.model_validate_json(json.dumps(data))
    return {
        "type": event_type,
        "stream_id": event.stream_id,
        "metadata": {
            "schema_version": version,
            "correlation_id": "c7e1b2a4-3d5f-4e6a-8b9c-0d1e2f3a4b5c",
            "causation_id": "d8f2c3b5-4e6a-4f7b-9c0d-1e2f3a4b5c6d",
            "actor": "account-5f3a",
            "actor_role": "registrar",
        },
        "data": data,
    }


@dataclass(frozen=True, slots=True)
class Refusal:
    """A published version that the current code would break."""

    file: Path
    problems: tuple[str, ...]


def refusals(root: Path, registry: EventRegistry = CATALOGUE) -> list[Refusal]:
    """Committed schemas the current catalogue breaks or no longer has."""
    out: list[Refusal] = []
    current = {f"{schema_name(model)}.json": model for model in registry.all_versions()}
    for committed in sorted((root / SCHEMAS_DIR).glob("*.json")):
        model = current.get(committed.name)
        if model is None:
            out.append(Refusal(committed, ("a published version is never removed",)))
            continue
        found: list[Incompatibility] = incompatibilities(
            json.loads(committed.read_text(encoding="utf-8")), event_schema(model, registry)
        )
        if found:
            out.append(Refusal(committed, tuple(map(str, found))))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bilet.contracts.export", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    arguments = parser.parse_args(argv)
    root: Path = arguments.root

    if broken := refusals(root):
        for refusal in broken:
            print(f"{refusal.file}: published, and the catalogue breaks it:", file=sys.stderr)
            for problem in refusal.problems:
                print(f"  - {problem}", file=sys.stderr)
        print("Publish a new version with an upcaster instead (docs/adr/0006).", file=sys.stderr)
        return 2

    stale = [
        path
        for path, text in generated_files().items()
        if not (root / path).exists() or (root / path).read_text(encoding="utf-8") != text
    ]
    missing_golden = [
        (model.event_type, model.schema_version)
        for model in CATALOGUE.all_versions()
        if not (root / GOLDEN_DIR / f"{schema_name(model)}.json").exists()
    ]
    if arguments.check:
        for path in stale:
            print(f"stale: {path} (run `make contracts`)", file=sys.stderr)
        for event_type, version in missing_golden:
            print(
                f"no golden sample: {event_type} v{version} (run `make contracts`)", file=sys.stderr
            )
        return 1 if stale or missing_golden else 0

    for path, text in generated_files().items():
        if path in stale:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for event_type, version in missing_golden:
        path = GOLDEN_DIR / f"{event_type}.v{version}.json"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(json_text(golden_sample(event_type, version)), encoding="utf-8")
        print(f"seeded {path}")
    if not stale and not missing_golden:
        print("docs/contracts is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
