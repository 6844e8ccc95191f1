"""The diagnostics instruments: versioned item banks, the form a pupil of one grade band answers in
one stage, and the catalogue of every version known (pure: the files are read by
`adapters/item_banks.py`; the rules a bank keeps, checked before a catalogue is built, are in
`domain/bank_rules.py`).

An item bank is written once per version and never changed afterwards: results name the version
they were computed with (`InstrumentRef`), and its digest is published with it.
"""

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

from bilet.contracts.catalogue.diagnostics import InstrumentVersionPublished
from bilet.contracts.vocabulary import Instrument, InstrumentRef, Level, MappingRef, Stage
from bilet_diagnostics.domain.mapping import MappingTable

GradeBand = Literal["6-7", "8-9", "10-11"]
GRADE_BANDS: tuple[GradeBand, ...] = get_args(GradeBand)

# Which stage each instrument belongs to: a bank of another stage is refused at load.
STAGE_OF: Mapping[Instrument, Stage] = {
    Instrument.KLIMOV_DDO: Stage.INTERESTS,
    Instrument.ONET_IP_SHORT: Stage.INTERESTS,
    Instrument.SOFT_SKILLS_BANK: Stage.SOFT_SKILLS,
    Instrument.PROFESSIONS_KNOWLEDGE_BANK: Stage.PROFESSIONS_KNOWLEDGE,
}


def band_of(grade: int) -> GradeBand:
    """The wording band of a school grade (the programme's grades are 6 to 11)."""
    if grade in (6, 7):
        return "6-7"
    if grade in (8, 9):
        return "8-9"
    if grade in (10, 11):
        return "10-11"
    raise ValueError(f"the diagnostics have no wording for grade {grade} (grades 6 to 11)")


class ItemBankError(ValueError):
    """A bank, mapping table or catalogue that breaks a rule: names the file and the item (or
    row) so the author can find it."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        super().__init__(f"{source}: {where}: {problem}")
        self.source = source
        self.where = where
        self.problem = problem


@dataclass(frozen=True)
class Wording:
    """A text in every grade band (the same text, or one per band where wording differs)."""

    by_band: tuple[tuple[GradeBand, str], ...]

    @classmethod
    def of(cls, text: str | Mapping[str, str]) -> "Wording":
        """One text for every band, or a text per band; raises `ValueError` naming a missing or
        unknown band."""
        if isinstance(text, str):
            return cls(tuple((band, text) for band in GRADE_BANDS))
        unknown = sorted(set(text) - set(GRADE_BANDS))
        if unknown:
            raise ValueError(f"unknown grade band {unknown[0]!r} (bands: {', '.join(GRADE_BANDS)})")
        missing = [band for band in GRADE_BANDS if not text.get(band, "").strip()]
        if missing:
            raise ValueError(f"no wording for grade band {missing[0]}")
        return cls(tuple((band, text[band]) for band in GRADE_BANDS))

    def __call__(self, band: GradeBand) -> str:
        return dict(self.by_band)[band]


@dataclass(frozen=True)
class Choice:
    """One answer option as a pupil sees it."""

    option_id: str
    text: str


@dataclass(frozen=True)
class Item:
    """One item as a pupil of one grade band sees it (no scoring key)."""

    item_id: str
    instrument: Instrument
    prompt: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class BankOption:
    """An answer option and its key: choosing it gives `points` to `scale`."""

    option_id: str
    text: Wording
    scale: str
    points: int


@dataclass(frozen=True)
class BankItem:
    """One item of a bank, in every band's wording, with its scoring key."""

    item_id: str
    prompt: Wording
    options: tuple[BankOption, ...]

    def option(self, option_id: str) -> BankOption | None:
        return self._by_option.get(option_id)

    @functools.cached_property
    def _by_option(self) -> dict[str, BankOption]:
        # Scoring looks up every answer's option: a bank item never changes (docs/adr/0111).
        # The first of an id wins, as the scan it replaces found it (bank rules allow none twice).
        by_option: dict[str, BankOption] = {}
        for option in self.options:
            by_option.setdefault(option.option_id, option)
        return by_option

    def render(self, instrument: Instrument, band: GradeBand) -> Item:
        choices = tuple(Choice(o.option_id, o.text(band)) for o in self.options)
        return Item(self.item_id, instrument, self.prompt(band), choices)


@dataclass(frozen=True)
class LevelThresholds:
    """Criterion-referenced levels: a scale's score reaches `basic` from `basic_from` per cent of
    its maximum and `advanced` from `advanced_from` per cent; below is `initial`."""

    basic_from: int
    advanced_from: int

    def points(self, max_score: int) -> tuple[int, int]:
        """The least scores out of `max_score` that reach basic and advanced (integers, exact)."""
        return (-(-self.basic_from * max_score // 100), -(-self.advanced_from * max_score // 100))

    def level(self, score: int, max_score: int) -> Level:
        basic, advanced = self.points(max_score)
        if score >= advanced:
            return Level.ADVANCED
        return Level.BASIC if score >= basic else Level.INITIAL


@dataclass(frozen=True)
class InstrumentVersion:
    """One version of one instrument, all bands: what `InstrumentVersionPublished` says of it."""

    ref: InstrumentRef
    stage: Stage
    scales: tuple[str, ...]
    digest: str  # sha256 hex of the bank file's bytes
    mapping: MappingRef | None
    item_count: int

    def published(self) -> InstrumentVersionPublished:
        return InstrumentVersionPublished(
            instrument=self.ref.instrument,
            version=self.ref.version,
            stage=self.stage,
            item_count=self.item_count,
            scales=self.scales,
            item_bank_digest=self.digest,
            environment_mapping=self.mapping,
        )


@dataclass(frozen=True)
class ItemBank:
    """A version's items with their keys, scale titles, levels and time limit. `source` is the
    file it was read from, named in every error about it."""

    source: str
    version: InstrumentVersion
    title: str
    provenance: str  # which public method's structure it follows, and who wrote the wording
    time_limit: timedelta
    scale_titles: tuple[tuple[str, str], ...]
    items: tuple[BankItem, ...]
    levels: LevelThresholds | None

    @property
    def ref(self) -> InstrumentRef:
        return self.version.ref

    def scale_title(self, scale: str) -> str:
        return dict(self.scale_titles)[scale]

    def max_score(self, scale: str) -> int:
        """The most points `scale` can get: the best option for it in every item."""
        return self._max_scores.get(scale, 0)

    @functools.cached_property
    def _max_scores(self) -> dict[str, int]:
        # Every scoring of a stage asks for each scale's maximum: worked out once per bank (a
        # bank never changes), not once per score, which scanned every option of every item.
        best: dict[str, int] = {}
        for item in self.items:
            for scale in {o.scale for o in item.options}:
                points = max(o.points for o in item.options if o.scale == scale)
                best[scale] = best.get(scale, 0) + points
        return best


@dataclass(frozen=True)
class StageForm:
    """What a pupil of one band answers in one stage: the items of its instruments in order.

    `banks` (the keys) and `mapping` (interests only) are what `scoring.score` needs; a form
    built without them can be shown but not scored.
    """

    stage: Stage
    band: GradeBand
    instruments: tuple[InstrumentRef, ...]
    items: tuple[Item, ...]
    time_limit: timedelta
    banks: tuple[ItemBank, ...] = ()
    mapping: MappingTable | None = None

    def offers(self, item_id: str, option_id: str) -> bool | None:
        """Whether the item offers the option (None: no such item)."""
        options = self.options.get(item_id)
        return None if options is None else option_id in options

    @functools.cached_property
    def options(self) -> Mapping[str, tuple[str, ...]]:
        """Each item's option ids, in its order: made once per form (a form never changes; a
        sheet's every answer is checked against it on a save and twice on completion)."""
        return {item.item_id: tuple(c.option_id for c in item.choices) for item in self.items}


@dataclass(frozen=True)
class InstrumentCatalogue:
    """Every version known (never removed: old results name them) and which versions are
    current per stage. Build it with `bank_rules.catalogue`, which checks every rule first."""

    banks: tuple[ItemBank, ...]
    mappings: tuple[MappingTable, ...]
    current: tuple[tuple[Stage, tuple[InstrumentRef, ...]], ...]

    def current_form(self, stage: Stage, grade: int) -> StageForm:
        return self.form(stage, grade, dict(self.current)[stage])

    def form(self, stage: Stage, grade: int, instruments: tuple[InstrumentRef, ...]) -> StageForm:
        """The form of these versions for this grade; `KeyError` for a version not known in
        this stage (a started attempt always finds its versions: none is ever removed)."""
        band = band_of(grade)
        banks = tuple(self.bank(ref) for ref in instruments)
        if any(bank.version.stage != stage for bank in banks):
            raise KeyError(f"instruments {instruments} are not all of stage {stage}")
        refs = {bank.version.mapping for bank in banks if bank.version.mapping is not None}
        if len(refs) > 1:
            raise KeyError(f"instruments {instruments} use different mapping tables")
        return StageForm(
            stage=stage,
            band=band,
            instruments=instruments,
            items=tuple(i.render(b.ref.instrument, band) for b in banks for i in b.items),
            time_limit=sum((bank.time_limit for bank in banks), timedelta()),
            banks=banks,
            mapping=self.mapping_table(refs.pop()) if refs else None,
        )

    def versions(self) -> tuple[InstrumentVersion, ...]:
        return tuple(bank.version for bank in self.banks)

    def current_versions(self, stage: Stage) -> tuple[InstrumentVersion, ...]:
        """The versions a stage started now uses, in the form's order."""
        return tuple(self.bank(ref).version for ref in dict(self.current)[stage])

    def unpublished(
        self, published: Iterable[InstrumentVersionPublished]
    ) -> tuple[InstrumentVersion, ...]:
        """The versions to publish now, given those already published; `ItemBankError` when a
        published version's bank no longer has the digest it was published with (a published
        version is never edited: the change must be a new version)."""
        done = {(event.instrument, event.version): event.item_bank_digest for event in published}
        for bank in self.banks:
            digest = done.get((bank.ref.instrument, bank.ref.version))
            if digest is not None and digest != bank.version.digest:
                problem = f"published with digest {digest}, now {bank.version.digest}"
                raise ItemBankError(bank.source, "version", f"{problem}: give it a new version")
        return tuple(v for v in self.versions() if (v.ref.instrument, v.ref.version) not in done)

    def bank(self, ref: InstrumentRef) -> ItemBank:
        for bank in self.banks:
            if bank.ref == ref:
                return bank
        raise KeyError(f"unknown instrument version {ref.instrument} {ref.version}")

    def mapping_table(self, ref: MappingRef) -> MappingTable:
        for table in self.mappings:
            if table.ref == ref:
                return table
        raise KeyError(f"unknown mapping table {ref.mapping_id} {ref.version}")
