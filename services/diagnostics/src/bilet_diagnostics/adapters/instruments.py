"""The use cases' `Instruments` port over the instrument catalogue read from the package's item
banks (`adapters/item_banks.py`, `domain/instruments.py`) and its pure scoring
(`domain/scoring.py`)."""

import dataclasses
import importlib
from collections.abc import Mapping
from enum import Enum
from typing import Any

from bilet.contracts.vocabulary import InstrumentRef, MappingRef, Stage
from bilet_diagnostics.application.ports import Form, Instruments, Scored, Version


def jsonable(value: object) -> object:
    """A catalogue's frozen dataclasses (a mapping table) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class BankInstruments:
    """`Instruments` over an `InstrumentCatalogue` and the scoring module."""

    def __init__(self, catalogue: Any, scoring: Any) -> None:
        self._catalogue = catalogue
        self._scoring = scoring

    def current_form(self, stage: Stage, grade: int) -> Form:
        form: Form = self._catalogue.current_form(stage, grade)
        return form

    def form(self, stage: Stage, grade: int, instruments: tuple[InstrumentRef, ...]) -> Form:
        form: Form = self._catalogue.form(stage, grade, instruments)
        return form

    def versions(self) -> tuple[Version, ...]:
        return tuple(self._catalogue.versions())

    def mapping_table(self, ref: MappingRef) -> object:
        return jsonable(self._catalogue.mapping_table(ref))

    def score(self, form: Form, answers: Mapping[str, str]) -> Scored:
        scored: Scored = self._scoring.score(form, answers)
        return scored

    def missing(self, form: Form, answers: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(self._scoring.missing(form, answers))

    def answer_sheet_digest(self, form: Form, answers: Mapping[str, str]) -> str:
        return str(self._scoring.answer_sheet_digest(form, answers))


def load_instruments() -> Instruments:
    """The shipped item banks, validated (a bad bank stops the process with a clear error).

    Bound by module name: the catalogue (`adapters/item_banks.py`) and the scoring are built in
    parallel with this module (issue 13, ADR 0021); once both are in, these become imports."""
    item_banks = importlib.import_module("bilet_diagnostics.adapters.item_banks")
    scoring = importlib.import_module("bilet_diagnostics.domain.scoring")
    return BankInstruments(item_banks.load_catalogue(), scoring)
