"""Checks of handbook rule 7 ("the API explains itself") over a service's OpenAPI document, for
the services' tests: every operation has a description, every schema the document names exists,
and every refusal a description names is in the operation's `responses` with the status the
service answers its code with (`check_refusals`)."""

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

SCHEMA_REF: Final = re.compile(r"#/components/schemas/([A-Za-z0-9_.-]+)")


def undescribed_operations(spec: dict[str, Any]) -> list[str]:
    """`METHOD /path` of each operation without a `description`."""
    return [
        f"{method.upper()} {path}"
        for path, item in spec.get("paths", {}).items()
        for method, operation in item.items()
        if isinstance(operation, dict) and not operation.get("description")
    ]


def undefined_schemas(spec: dict[str, Any]) -> set[str]:
    """The names a `#/components/schemas/…` reference uses that `components.schemas` lacks."""
    defined = set(spec.get("components", {}).get("schemas", {}))
    return set(SCHEMA_REF.findall(json.dumps(spec))) - defined


# `NNN `code`` in a description: a refusal's status and (the first of) its codes.
REFUSAL_STATUS: Final = re.compile(r"\b(4\d\d) `")


# The codes the kernel's frame answers in front of (or around) every service's routes: the request
# guard, request validation, read-your-writes tokens.
FRAME_STATUS: Final = {
    "invalid_text": 400,
    "invalid_position_token": 400,
    "not_yet_visible": 409,
    "invalid_request": 422,
}


@dataclass(frozen=True)
class RefusalCheck:
    """What `check_refusals` found: how many operations and named codes it checked, and each
    way a description and the document disagree (empty: they agree)."""

    operations: int
    codes: int
    problems: list[str]


def refusal_codes(base: type[Any]) -> set[str]:
    """The `code` of a service's error base and of every class derived from it (those imported
    so far: import the app first)."""
    return {base.code}.union(*(refusal_codes(sub) for sub in base.__subclasses__()))


def answered_codes(base: type[Any], *others: str) -> set[str]:
    """Every code a service answers: its refusals' (`refusal_codes(base)`), the frame's
    (`FRAME_STATUS`) and the `others` its routes raise as problems of their own."""
    return refusal_codes(base) | set(FRAME_STATUS) | set(others)


def check_refusals(
    spec: dict[str, Any],
    *,
    prefix: str,
    status_of: Mapping[str, int],
    known: Collection[str] | None = None,
    default_status: int = 422,
    sections: tuple[str, ...] = ("**Who:**", "**Refusals:**"),
) -> RefusalCheck:
    """Each operation under `prefix` (HEAD aside: it answers as its GET) has the `sections` in
    its description: **Who:** may call it, its **Refusals:** (`NNN `code`, `code` (when); NNN
    …`). Every 4xx status its
    description names is in its `responses`; every code its refusals name is `known` (when
    given) and is answered with that status (`status_of`, else the frame's `FRAME_STATUS`, else
    `default_status`)."""
    answers = {**FRAME_STATUS, **status_of}
    problems: list[str] = []
    operations = codes = 0
    for path, item in spec.get("paths", {}).items():
        if not path.startswith(prefix):
            continue
        for method, operation in item.items():
            if method == "head" or not isinstance(operation, dict):
                continue
            operations += 1
            where = f"{method.upper()} {path}"
            description = operation.get("description", "")
            for section in sections:
                if section not in description:
                    problems.append(f"{where}: no {section} in its description")
            named = {int(s) for s in REFUSAL_STATUS.findall(description)}
            listed = {int(s) for s in operation.get("responses", {}) if s.startswith("4")}
            problems += [f"{where}: {s} is not in its responses" for s in sorted(named - listed)]
            refusals = description.partition("**Refusals:**")[2]
            # Parentheses say when a refusal is given; they may name codes of other services.
            for chunk in re.sub(r"\([^)]*\)", "", refusals).split(";"):
                status, *_ = chunk.split() or ["?"]
                for code in re.findall(r"`([a-z_]+)`", chunk):
                    codes += 1
                    if known is not None and code not in known:
                        problems.append(f"{where}: `{code}` is no code the service answers")
                    answered = answers.get(code, default_status)
                    if str(answered) != status:
                        problems.append(f"{where}: `{code}` is named {status}, answered {answered}")
    return RefusalCheck(operations, codes, problems)
