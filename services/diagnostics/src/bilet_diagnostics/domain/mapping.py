"""The published, versioned mapping from interest scales (ДДО types, RIASEC types) to the nine
programme environments (среды): each row says which scale speaks for which environment, how much
(its weight) and why, so every environment score can be explained row by row.

An environment's score is the weighted mean of its rows' scales, each scale taken as a share of
its maximum, times 100, rounded half up: exact integer arithmetic, so the same scores always give
the same profile. Rows of an instrument the form did not use are left out of the mean.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from bilet.contracts.catalogue.diagnostics import EnvironmentProfile, EnvironmentScores
from bilet.contracts.vocabulary import Environment, Instrument, MappingRef, MappingRowRef

# The order ties are broken in (the programme's own list of environments).
ENVIRONMENT_ORDER: tuple[Environment, ...] = tuple(Environment)
MAX_LEADING = 3


@dataclass(frozen=True)
class MappingRow:
    """One rule: `scale` of `instrument` speaks for `environment` with `weight`, for `reason`."""

    row_id: str
    environment: Environment
    instrument: Instrument
    scale: str
    weight: int
    reason: str


@dataclass(frozen=True)
class MappingTable:
    """One version of a mapping table; `leading_within` is how many points below the strongest
    environment another one still counts as leading (up to three)."""

    source: str
    ref: MappingRef
    title: str
    provenance: str  # who made it and how a score is computed, in Russian
    digest: str  # sha256 hex of the table file's bytes
    environment_titles: tuple[tuple[Environment, str], ...]
    rows: tuple[MappingRow, ...]
    leading_within: int

    def environment_title(self, environment: Environment) -> str:
        return dict(self.environment_titles)[environment]

    def row_ref(self, row_id: str) -> MappingRowRef:
        return MappingRowRef(mapping_id=self.ref.mapping_id, version=self.ref.version, row=row_id)


@dataclass(frozen=True)
class ScaleScore:
    """A scale's score out of its maximum, as the mapping reads it."""

    instrument: Instrument
    scale: str
    score: int
    max_score: int


@dataclass(frozen=True)
class MappingContribution:
    """What one row gave its environment: `share` points of the environment's 0–100 score
    (exact; the environment's score is the rounded sum of its rows' shares)."""

    row_id: str
    environment: Environment
    instrument: Instrument
    scale: str
    weight: int
    score: int
    max_score: int
    share: Fraction


def round_half_up(numerator: int, denominator: int) -> int:
    """`numerator / denominator` (`denominator` > 0, the pair need not be reduced) rounded to
    the nearest integer, a half up: the floor of n / d + 1/2, in integers (exact, never a
    float, and no `Fraction` made: the environment scores round 9 sums per sheet)."""
    return (2 * numerator + denominator) // (2 * denominator)


def contributions(
    table: MappingTable, scales: tuple[ScaleScore, ...]
) -> tuple[MappingContribution, ...]:
    """Every row whose scale was scored, with its share, in the table's order."""
    scored = {(s.instrument, s.scale): s for s in scales}
    used = [row for row in table.rows if (row.instrument, row.scale) in scored]
    weight_of: dict[Environment, int] = {}
    for row in used:
        weight_of[row.environment] = weight_of.get(row.environment, 0) + row.weight
    result = []
    for row in used:
        scale = scored[(row.instrument, row.scale)]
        share = Fraction(
            100 * row.weight * scale.score, scale.max_score * weight_of[row.environment]
        )
        result.append(
            MappingContribution(
                row_id=row.row_id,
                environment=row.environment,
                instrument=row.instrument,
                scale=row.scale,
                weight=row.weight,
                score=scale.score,
                max_score=scale.max_score,
                share=share,
            )
        )
    return tuple(result)


def environment_scores(rows: tuple[MappingContribution, ...]) -> Mapping[Environment, int]:
    """Each environment's 0–100 score: the rounded sum of its rows' shares (0 with no row)."""
    # The exact sum as one numerator and denominator of plain integers (the same value as a sum
    # of `Fraction`s, without reducing it after every addition: docs/adr/0111).
    totals = dict.fromkeys(ENVIRONMENT_ORDER, (0, 1))
    for row in rows:
        numerator, denominator = totals[row.environment]
        share = row.share
        totals[row.environment] = (
            numerator * share.denominator + share.numerator * denominator,
            denominator * share.denominator,
        )
    return {environment: round_half_up(n, d) for environment, (n, d) in totals.items()}


def leading(table: MappingTable, scores: Mapping[Environment, int]) -> tuple[Environment, ...]:
    """The strongest environment and up to two more within `leading_within` points of it,
    strongest first; ties in the programme's order of environments."""
    ranked = sorted(ENVIRONMENT_ORDER, key=lambda e: (-scores[e], ENVIRONMENT_ORDER.index(e)))
    top = scores[ranked[0]]
    return tuple(e for e in ranked if scores[e] >= top - table.leading_within)[:MAX_LEADING]


def profile(
    table: MappingTable, scales: tuple[ScaleScore, ...]
) -> tuple[EnvironmentProfile, tuple[MappingContribution, ...]]:
    """The environment profile of these scale scores, and the rows it came from."""
    rows = contributions(table, scales)
    scores = environment_scores(rows)
    environments = EnvironmentScores(**{e.value: scores[e] for e in ENVIRONMENT_ORDER})
    return (
        EnvironmentProfile(mapping=table.ref, scores=environments, leading=leading(table, scores)),
        rows,
    )
