"""The rules every item bank, mapping table and the catalogue keep, checked once at start: a bank
that breaks one is refused with an `ItemBankError` naming its file and the item (or row), never
found out later from a pupil's score.

Generic rules: known stage, distinct ids, every option scoring a declared scale, every scale
reachable, levels for criterion-referenced banks. Per instrument: ДДО's balance (20 pairs, each
type in exactly 8), RIASEC's 60 items (10 per type, 0–4 each), one correct option per knowledge
item over the nine environments, the five soft skills at least.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar, assert_never

from bilet.contracts.catalogue.diagnostics import KlimovScores, RiasecScores
from bilet.contracts.vocabulary import Environment, Instrument, InstrumentRef, Stage
from bilet_diagnostics.domain.instruments import (
    STAGE_OF,
    InstrumentCatalogue,
    ItemBank,
    ItemBankError,
)
from bilet_diagnostics.domain.mapping import MappingTable

ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SCALE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ROW_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")

KLIMOV_SCALES = tuple(KlimovScores.model_fields)
KLIMOV_PAIRS, KLIMOV_PAIRS_PER_TYPE = 20, 8
RIASEC_SCALES = tuple(RiasecScores.model_fields)
RIASEC_ITEMS_PER_TYPE, LIKERT_POINTS = 10, (0, 1, 2, 3, 4)
REQUIRED_SOFT_SKILLS = (
    "communication",
    "teamwork",
    "self_organisation",
    "critical_thinking",
    "creativity",
)
ENVIRONMENT_SCALES = tuple(e.value for e in Environment)
_T = TypeVar("_T")
# Builds the error for (where, problem) in the bank being checked.
Fail = Callable[[str, str], ItemBankError]
LEVELLED = (Instrument.SOFT_SKILLS_BANK, Instrument.PROFESSIONS_KNOWLEDGE_BANK)
INTERESTS = (Instrument.KLIMOV_DDO, Instrument.ONET_IP_SHORT)


def check_bank(bank: ItemBank) -> None:
    """Raise `ItemBankError` for the first rule `bank` breaks."""

    def fail(where: str, problem: str) -> ItemBankError:
        return ItemBankError(bank.source, where, problem)

    version, instrument = bank.version, bank.ref.instrument
    if version.stage != STAGE_OF[instrument]:
        raise fail("stage", f"{instrument} belongs to stage {STAGE_OF[instrument]}")
    if bad := next((s for s in version.scales if not SCALE.match(s)), None):
        raise fail("scales", f"scale {bad!r} is not a code (a-z, digits, _)")
    if dup := _first_duplicate(version.scales):
        raise fail("scales", f"scale {dup!r} is declared twice")
    if untitled := next((s for s in version.scales if s not in dict(bank.scale_titles)), None):
        raise fail("scales", f"scale {untitled!r} has no title")
    if not bank.items or version.item_count != len(bank.items):
        raise fail("items", "a bank has at least one item, and item_count says how many")
    if bank.time_limit.total_seconds() <= 0:
        raise fail("time_limit_minutes", "the time limit is positive")
    if dup := _first_duplicate(item.item_id for item in bank.items):
        raise fail(f"item {dup}", "duplicate item id")
    for item in bank.items:
        where = f"item {item.item_id}"
        if not ID.match(item.item_id):
            raise fail(where, "an item id is lower case letters, digits, _ or -")
        if len(item.options) < 2:
            raise fail(where, "an item has at least two options")
        if dup := _first_duplicate(o.option_id for o in item.options):
            raise fail(where, f"duplicate option id {dup!r}")
        for option in item.options:
            if not ID.match(option.option_id):
                raise fail(where, f"option id {option.option_id!r} is not lower case")
            if option.scale not in version.scales:
                raise fail(where, f"option {option.option_id}: unknown scale {option.scale!r}")
            if option.points < 0:
                raise fail(where, f"option {option.option_id}: points are never negative")
    if unreachable := next((s for s in version.scales if bank.max_score(s) < 1), None):
        raise fail("scales", f"no item gives points to scale {unreachable!r}")
    if (bank.levels is None) == (instrument in LEVELLED):
        raise fail("levels", "levels are set exactly for soft skills and knowledge banks")
    if bank.levels and not 0 < bank.levels.basic_from < bank.levels.advanced_from <= 100:
        raise fail("levels", "thresholds are per cent: 0 < basic_from < advanced_from <= 100")
    if (version.mapping is None) == (instrument in INTERESTS):
        raise fail("mapping", "an interests instrument, and only it, names its mapping table")
    _check_structure(bank, fail)


def _check_structure(bank: ItemBank, fail: Fail) -> None:
    """The structure the instrument's scoring relies on."""
    match bank.ref.instrument:
        case Instrument.KLIMOV_DDO:
            _check_klimov_pairs(bank, fail)
        case Instrument.ONET_IP_SHORT:
            _check_riasec_inventory(bank, fail)
        case Instrument.SOFT_SKILLS_BANK:
            if missing := [s for s in REQUIRED_SOFT_SKILLS if s not in bank.version.scales]:
                raise fail("scales", f"the soft skills bank scores {missing[0]!r} too")
            _one_scale_per_item(bank, fail)
        case Instrument.PROFESSIONS_KNOWLEDGE_BANK:
            _require_scales(bank, ENVIRONMENT_SCALES, fail)
            _one_scale_per_item(bank, fail)
            for item in bank.items:
                if sorted(o.points for o in item.options)[-2:] != [0, 1]:
                    raise fail(f"item {item.item_id}", "exactly one correct option (1 point)")
        case _:
            assert_never(bank.ref.instrument)


def _check_klimov_pairs(bank: ItemBank, fail: Fail) -> None:
    """ДДО: 20 pairs of two types, 1 point to the chosen one, every type in exactly 8 pairs (so
    each scores 0–8 and the five sum to 20)."""
    _require_scales(bank, KLIMOV_SCALES, fail)
    if len(bank.items) != KLIMOV_PAIRS:
        raise fail("items", f"ДДО has {KLIMOV_PAIRS} pairs, this bank {len(bank.items)}")
    for item in bank.items:
        types = {o.scale for o in item.options}
        if len(item.options) != 2 or len(types) != 2 or {o.points for o in item.options} != {1}:
            raise fail(f"item {item.item_id}", "a pair: two options, two types, 1 point each")
    counts = Counter(o.scale for item in bank.items for o in item.options)
    for scale in bank.version.scales:
        if counts[scale] != KLIMOV_PAIRS_PER_TYPE:
            raise fail("items", f"type {scale} is in {counts[scale]} pairs, not 8")


def _check_riasec_inventory(bank: ItemBank, fail: Fail) -> None:
    """RIASEC: every item answered 0–4 for its one type, 10 items per type (0–40)."""
    _require_scales(bank, RIASEC_SCALES, fail)
    for item in bank.items:
        if tuple(sorted(o.points for o in item.options)) != LIKERT_POINTS:
            raise fail(f"item {item.item_id}", "a Likert item scores 0, 1, 2, 3 and 4")
    _one_scale_per_item(bank, fail)
    counts = Counter(item.options[0].scale for item in bank.items)
    for scale in bank.version.scales:
        if counts[scale] != RIASEC_ITEMS_PER_TYPE:
            raise fail("items", f"type {scale} has {counts[scale]} items, not 10")


def _require_scales(bank: ItemBank, expected: tuple[str, ...], fail: Fail) -> None:
    if bank.version.scales != expected:
        raise fail("scales", f"{bank.ref.instrument} scores exactly {', '.join(expected)}")


def _one_scale_per_item(bank: ItemBank, fail: Fail) -> None:
    for item in bank.items:
        if len({o.scale for o in item.options}) != 1:
            raise fail(f"item {item.item_id}", "every option of the item scores the same scale")


def check_mapping(table: MappingTable) -> None:
    """Raise `ItemBankError` for the first rule the mapping table breaks."""
    source = table.source
    if dup := _first_duplicate(row.row_id for row in table.rows):
        raise ItemBankError(source, f"row {dup}", "duplicate row id")
    seen = set()
    for row in table.rows:
        where = f"row {row.row_id}"
        if not ROW_ID.match(row.row_id):
            raise ItemBankError(source, where, "a row id is letters, digits, '.', '_' or '-'")
        if row.weight < 1:
            raise ItemBankError(source, where, "a weight is a positive integer")
        if (row.environment, row.instrument, row.scale) in seen:
            raise ItemBankError(source, where, "a second row for the same environment and scale")
        seen.add((row.environment, row.instrument, row.scale))
    for environment in Environment:
        if environment not in dict(table.environment_titles):
            raise ItemBankError(source, "environments", f"{environment} has no title")
        if not any(row.environment == environment for row in table.rows):
            raise ItemBankError(source, "rows", f"no row gives points to {environment}")
    if table.leading_within < 0:
        raise ItemBankError(source, "leading_within", "never negative")


def catalogue(
    banks: tuple[ItemBank, ...],
    mappings: tuple[MappingTable, ...],
    current: tuple[tuple[Stage, tuple[InstrumentRef, ...]], ...],
    current_source: str,
) -> InstrumentCatalogue:
    """The catalogue of these banks and tables, once every rule holds."""
    for bank in banks:
        check_bank(bank)
    for table in mappings:
        check_mapping(table)
    for index, bank in enumerate(banks):
        for earlier in banks[:index]:
            if earlier.ref == bank.ref:
                raise ItemBankError(bank.source, "version", f"also in {earlier.source}")
            if earlier.ref.instrument != bank.ref.instrument and (
                shared := {i.item_id for i in earlier.items} & {i.item_id for i in bank.items}
            ):
                raise ItemBankError(bank.source, f"item {min(shared)}", f"also in {earlier.source}")
    for bank in banks:
        if bank.version.mapping and bank.version.mapping not in [t.ref for t in mappings]:
            ref = bank.version.mapping
            raise ItemBankError(
                bank.source, "mapping", f"unknown table {ref.mapping_id} {ref.version}"
            )
    for index, table in enumerate(mappings):
        if any(earlier.ref == table.ref for earlier in mappings[:index]):
            raise ItemBankError(table.source, "version", "a second table of this version")
        _check_rows_name_known_scales(table, banks)
    result = InstrumentCatalogue(banks=banks, mappings=mappings, current=current)
    _check_current(result, current_source)
    return result


def _check_rows_name_known_scales(table: MappingTable, banks: tuple[ItemBank, ...]) -> None:
    users = [bank for bank in banks if bank.version.mapping == table.ref]
    for row in table.rows:
        versions = [bank for bank in users if bank.ref.instrument == row.instrument]
        if not versions:
            problem = f"instrument {row.instrument} does not use this table"
            raise ItemBankError(table.source, f"row {row.row_id}", problem)
        if any(row.scale not in bank.version.scales for bank in versions):
            problem = f"unknown scale {row.scale!r} of {row.instrument}"
            raise ItemBankError(table.source, f"row {row.row_id}", problem)


def _check_current(catalogue: InstrumentCatalogue, source: str) -> None:
    stages = [stage for stage, _ in catalogue.current]
    for stage in Stage:
        if stages.count(stage) != 1:
            raise ItemBankError(source, stage.value, "every stage has one list of current versions")
    for stage, refs in catalogue.current:
        if not refs or _first_duplicate(ref.instrument for ref in refs) is not None:
            raise ItemBankError(source, stage.value, "one or more instruments, each once")
        try:
            catalogue.form(stage, 6, refs)
        except KeyError as error:
            raise ItemBankError(source, stage.value, str(error.args[0])) from None


def _first_duplicate(values: Iterable[_T]) -> _T | None:
    seen: set[_T] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None
