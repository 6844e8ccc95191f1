"""The hand-written YAML reads back, with a real YAML parser, as exactly the data written."""

from typing import Any

import pytest
import yaml

from bilet.contracts import yamltext

TRICKY_STRINGS = [
    "plain",
    "with spaces and «кавычки»",
    "",
    " leading space",
    "trailing space ",
    "yes",
    "No",
    "null",
    "~",
    "true",
    "3.0.0",
    "0.5.0",
    "47",
    "1e3",
    "a: b",
    "a #comment",
    "#/components/schemas/X",
    "$ref",
    "-dash",
    "*alias",
    "&anchor",
    "!tag",
    "%directive",
    "@at",
    "`tick",
    "'single'",
    '"double"',
    "[flow]",
    "{flow}",
    "line one\nline two",
    "line one\n\nline three",
    "ends with newline\n",
    "\nstarts with newline",
    "tab\there",
    "line\u2028separator",
    "next\u0085line",
    "ctrl\x07bell",
    "emoji 🎓",
    "^[0-9]{2}$",
    "127.0.0.1:9092",
    "2019-10-11",
    "ce_type",
    "content-type",
    "retention.ms",
]


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_a_string_reads_back_as_itself(text: str) -> None:
    document = {"key": text, text or "empty": [text, {"inner": text}]}
    assert yaml.safe_load(yamltext.dump(document)) == document


def test_nested_structures_read_back() -> None:
    document: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "numbers": [0, -1, 42, 1.5],
        "flags": {"on": True, "off": False, "nothing": None},
        "empty": {"map": {}, "list": []},
        "lists": [[1, 2], [], [{"a": 1, "b": [3]}], {"c": {"d": "e"}}],
        "multi": {"description": "First paragraph.\n\nSecond, with «кириллица»."},
    }
    text = yamltext.dump(document)
    assert yaml.safe_load(text) == document
    assert text.endswith("\n")
    assert "description: |-\n" in text  # multi-line text stays readable


def test_the_same_data_gives_the_same_text() -> None:
    document = {"b": 1, "a": [{"y": 2, "x": 1}]}
    assert yamltext.dump(document) == yamltext.dump(dict(document))
    assert yamltext.dump(document).startswith("b: 1\n")  # the given order, not sorted


def test_non_json_data_is_refused() -> None:
    with pytest.raises(TypeError):
        yamltext.dump({"when": object()})
