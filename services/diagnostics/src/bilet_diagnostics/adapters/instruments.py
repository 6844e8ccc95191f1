"""The use cases' `Instruments` port over the instrument catalogue read from the package's item
banks (`adapters/item_banks.py`, `domain/instruments.py`) and its pure scoring
(`domain/scoring.py`)."""

import dataclasses
from collections.abc import Mapping
from enum import Enum

from bilet.contracts.vocabulary import InstrumentRef, MappingRef, Stage
from bilet_diagnostics.adapters.item_banks import load_catalogue
from bilet_diagnostics.application.ports import Form, Instruments, Scored, Version
from bilet_diagnostics.domain import scoring
from bilet_diagnostics.domain.instruments import (
    GradeBand,
    InstrumentCatalogue,
    StageForm,
    band_of,
)


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
    """`Instruments` over the `InstrumentCatalogue` and `domain/scoring.py`. The use cases hand
    back the forms this catalogue gave them; anything else is a programming error."""

    def __init__(self, catalogue: InstrumentCatalogue) -> None:
        self._catalogue = catalogue
        # Forms are immutable and few (stages × bands × versions); building one renders every
        # item's wording, so a save (which needs its attempt's form) takes the one built before.
        self._forms: dict[tuple[Stage, GradeBand, tuple[InstrumentRef, ...]], StageForm] = {}

    def current_form(self, stage: Stage, grade: int) -> Form:
        # The catalogue's current versions never change in a process: the form built before.
        return self.form(stage, grade, dict(self._catalogue.current)[stage])

    def form(self, stage: Stage, grade: int, instruments: tuple[InstrumentRef, ...]) -> Form:
        key = (stage, band_of(grade), instruments)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = self._catalogue.form(stage, grade, instruments)
        return form

    def versions(self) -> tuple[Version, ...]:
        return self._catalogue.versions()

    def mapping_table(self, ref: MappingRef) -> object:
        return jsonable(self._catalogue.mapping_table(ref))

    def score(self, form: Form, answers: Mapping[str, str]) -> Scored:
        return scoring.score(_ours(form), answers)

    def missing(self, form: Form, answers: Mapping[str, str]) -> tuple[str, ...]:
        return scoring.missing(_ours(form), answers)

    def answer_sheet_digest(self, form: Form, answers: Mapping[str, str]) -> str:
        return scoring.answer_sheet_digest(_ours(form), answers)


def _ours(form: Form) -> StageForm:
    if not isinstance(form, StageForm):
        raise TypeError(f"not a form of the catalogue: {type(form).__name__}")
    return form


def load_instruments() -> Instruments:
    """The shipped item banks, validated (a bad bank stops the process with a clear error)."""
    return BankInstruments(load_catalogue())
