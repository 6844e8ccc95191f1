"""Reads the item banks and mapping tables shipped in the package (`bilet_diagnostics/item_banks`),
computes each file's SHA-256 and builds the checked catalogue: a bad bank stops the service at
start with an error naming the file and the item, never a pupil mid-stage.

Layout: `<instrument>/<version>.json` (one version of one bank),
`mappings/<mapping_id>/<version>.json` (one version of a mapping table) and `current.json`
(which versions each stage uses now; the only file that changes in place). The file formats
are the pydantic models below.
"""

import hashlib
import json
from datetime import timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bilet.contracts.vocabulary import (
    Code,
    Environment,
    Instrument,
    InstrumentRef,
    MappingRef,
    SemVer,
    Stage,
)
from bilet_diagnostics.domain.bank_rules import catalogue
from bilet_diagnostics.domain.instruments import (
    BankItem,
    BankOption,
    InstrumentCatalogue,
    InstrumentVersion,
    ItemBank,
    ItemBankError,
    LevelThresholds,
    Wording,
)
from bilet_diagnostics.domain.mapping import MappingRow, MappingTable

MAPPINGS = "mappings"
CURRENT = "current.json"

Text = Annotated[str, Field(min_length=1)] | dict[str, str]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionFile(_File):
    option_id: str
    text: Text
    scale: str | None = Field(default=None, description="Default: the item's scale.")
    points: int


class ItemFile(_File):
    item_id: str
    prompt: Text
    scale: str | None = Field(default=None, description="The scale of every option of the item.")
    options: tuple[OptionFile, ...] | None = Field(default=None, description="Default: shared.")


class ScaleFile(_File):
    scale: str
    title: str = Field(min_length=1)


class LevelsFile(_File):
    basic_from: int
    advanced_from: int


class BankFile(_File):
    instrument: Instrument
    version: SemVer
    stage: Stage
    title: str = Field(min_length=1)
    provenance: str = Field(min_length=1)
    time_limit_minutes: int
    scales: tuple[ScaleFile, ...]
    mapping: MappingRef | None = None
    levels: LevelsFile | None = None
    shared_options: tuple[OptionFile, ...] | None = None
    items: tuple[ItemFile, ...]


class EnvironmentFile(_File):
    environment: Environment
    title: str = Field(min_length=1)


class RowFile(_File):
    row: str
    environment: Environment
    instrument: Instrument
    scale: str
    weight: int
    reason: str = Field(min_length=1)


class MappingFile(_File):
    mapping_id: Code
    version: SemVer
    title: str = Field(min_length=1)
    provenance: str = Field(min_length=1)
    leading_within: int
    environments: tuple[EnvironmentFile, ...]
    rows: tuple[RowFile, ...]


class CurrentFile(_File):
    stages: dict[Stage, tuple[InstrumentRef, ...]]


_Model = TypeVar("_Model", bound=_File)


def shipped() -> Traversable:
    """The item banks inside the installed package."""
    return files("bilet_diagnostics").joinpath("item_banks")


def load_catalogue(root: Traversable | None = None) -> InstrumentCatalogue:
    """Read and check every bank and table under `root` (default: the shipped ones)."""
    root = shipped() if root is None else root
    banks, mappings = [], []
    for folder in sorted(root.iterdir(), key=lambda entry: entry.name):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir(), key=lambda entry: entry.name):
            if path.is_dir() and folder.name == MAPPINGS:
                mappings.extend(_mapping(f"{MAPPINGS}/{path.name}", path))
            elif path.name.endswith(".json"):
                banks.append(_bank(f"{folder.name}/{path.name}", path.read_bytes()))
    current = _parse(CURRENT, root.joinpath(CURRENT).read_bytes(), CurrentFile)
    stages = tuple((stage, refs) for stage, refs in sorted(current.stages.items()))
    return catalogue(tuple(banks), tuple(mappings), stages, CURRENT)


def _mapping(folder: str, path: Traversable) -> list[MappingTable]:
    tables = []
    for entry in sorted(path.iterdir(), key=lambda entry: entry.name):
        source = f"{folder}/{entry.name}"
        data = entry.read_bytes()
        table = _parse(source, data, MappingFile)
        _named_as(source, f"{MAPPINGS}/{table.mapping_id}/{table.version}.json")
        tables.append(
            MappingTable(
                source=source,
                ref=MappingRef(mapping_id=table.mapping_id, version=table.version),
                title=table.title,
                provenance=table.provenance,
                digest=hashlib.sha256(data).hexdigest(),
                environment_titles=tuple((e.environment, e.title) for e in table.environments),
                rows=tuple(
                    MappingRow(r.row, r.environment, r.instrument, r.scale, r.weight, r.reason)
                    for r in table.rows
                ),
                leading_within=table.leading_within,
            )
        )
    return tables


def _bank(source: str, data: bytes) -> ItemBank:
    bank = _parse(source, data, BankFile)
    _named_as(source, f"{bank.instrument.value}/{bank.version}.json")
    items = tuple(_item(source, bank, item) for item in bank.items)
    version = InstrumentVersion(
        ref=InstrumentRef(instrument=bank.instrument, version=bank.version),
        stage=bank.stage,
        scales=tuple(scale.scale for scale in bank.scales),
        digest=hashlib.sha256(data).hexdigest(),
        mapping=bank.mapping,
        item_count=len(items),
    )
    return ItemBank(
        source=source,
        version=version,
        title=bank.title,
        provenance=bank.provenance,
        time_limit=timedelta(minutes=bank.time_limit_minutes),
        scale_titles=tuple((scale.scale, scale.title) for scale in bank.scales),
        items=items,
        levels=LevelThresholds(bank.levels.basic_from, bank.levels.advanced_from)
        if bank.levels
        else None,
    )


def _item(source: str, bank: BankFile, item: ItemFile) -> BankItem:
    where = f"item {item.item_id}"
    options = item.options if item.options is not None else bank.shared_options
    if options is None:
        raise ItemBankError(source, where, "no options, and the bank has no shared_options")
    try:
        prompt = Wording.of(item.prompt)
        keyed = []
        for option in options:
            scale = option.scale or item.scale
            if scale is None:
                raise ValueError(f"option {option.option_id} names no scale, nor does the item")
            try:
                text = Wording.of(option.text)
            except ValueError as error:
                raise ValueError(f"option {option.option_id}: {error}") from None
            keyed.append(BankOption(option.option_id, text, scale, option.points))
    except ValueError as error:
        raise ItemBankError(source, where, str(error)) from None
    return BankItem(item.item_id, prompt, tuple(keyed))


def _parse(source: str, data: bytes, model: type[_Model]) -> _Model:
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ItemBankError(source, "json", str(error)) from None
    try:  # from JSON text: the strict contract types take enum values as JSON writes them
        return model.model_validate_json(data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = first["loc"]
        where = ".".join(str(part) for part in loc) or "file"
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
            where = f"item {_item_id(raw, loc[1])}: {'.'.join(str(part) for part in loc[2:])}"
        raise ItemBankError(source, where, first["msg"]) from None


def _item_id(raw: object, index: int) -> str:
    """The id of the `index`-th item of a raw bank, or its position when it has none."""
    if isinstance(raw, dict) and isinstance(raw.get("items"), list):
        item = raw["items"][index]
        item_id = item.get("item_id") if isinstance(item, dict) else None
        if isinstance(item_id, str):
            return item_id
    return f"#{index + 1}"


def _named_as(source: str, expected: str) -> None:
    """A version lives in the file named after it, so two files can never claim one version."""
    if source != expected:
        raise ItemBankError(source, "version", f"this version belongs in {expected}")
