"""Reads the recommendation rules shipped in the package (`bilet_recommender/tables`): each
`<rules_id>/<version>.json` is parsed and checked (`domain/rules.py`), so a broken table stops the
service at start, naming the file; `current.json` names the version in use."""

import json
from importlib.resources import files
from importlib.resources.abc import Traversable

from bilet_recommender.domain.errors import InvalidRules
from bilet_recommender.domain.rules import RecommendationRules, parse_rules

CURRENT = "current.json"


def shipped() -> Traversable:
    return files("bilet_recommender").joinpath("tables")


def load_tables(root: Traversable | None = None) -> tuple[RecommendationRules, ...]:
    """Every table version under `root` (default: the shipped ones), by id then version."""
    root = shipped() if root is None else root
    tables = []
    for folder in sorted(root.iterdir(), key=lambda entry: entry.name):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir(), key=lambda entry: entry.name):
            tables.append(parse_rules(f"{folder.name}/{path.name}", path.read_bytes()))
    return tuple(tables)


def current_rules(root: Traversable | None = None) -> RecommendationRules:
    """The table version `current.json` names (`{"rules_id": …, "version": …}`)."""
    root = shipped() if root is None else root
    try:
        named = json.loads(root.joinpath(CURRENT).read_bytes())
        rules_id, version = str(named["rules_id"]), str(named["version"])
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidRules(CURRENT, "names a table as {rules_id, version}") from error
    for table in load_tables(root):
        if (table.rules_id, table.version) == (rules_id, version):
            return table
    raise InvalidRules(CURRENT, f"no table {rules_id}/{version}.json")
