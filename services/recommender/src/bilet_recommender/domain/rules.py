"""The versioned recommendation rules (`tables/recommendation_rules/<version>.json`): how evidence
weighs into an environment's score, and what each environment recommends — school subjects to
deepen, profile classes, routes after the 9th and the 11th grade (СПО, ВО) — each as a row with
its id and the reason shown to pupils and parents in Russian.

A table is parsed from its bytes (the adapter reads the file) and checked here; its digest is the
SHA-256 of those bytes, so a test can hold a published version unchanged. Every row id is a
`MappingRowRef` row: recommendations name the rows they were derived by.
"""

import functools
import hashlib
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from bilet.contracts.catalogue.events import InterestShown, TaskCompletion
from bilet.contracts.catalogue.recommender import (
    ProfileClass,
    RouteAfterSchool,
    SchoolSubject,
    StudyIntent,
)
from bilet.contracts.vocabulary import (
    Code,
    Environment,
    Level,
    MappingRef,
    MappingRowRef,
    SemVer,
)
from bilet_recommender.domain.errors import InvalidRules

RowId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=32)]
Reason = Annotated[str, Field(min_length=1, max_length=300)]
Points = Annotated[int, Field(ge=0, le=100)]

LEVEL_ORDER: tuple[Level, ...] = (Level.INITIAL, Level.BASIC, Level.PROFICIENT, Level.ADVANCED)


class Source(StrEnum):
    """A kind of evidence an environment's score is made of."""

    INTERESTS = "interests"
    PROFESSIONS_KNOWLEDGE = "professions_knowledge"
    ATTENDANCE = "attendance"
    MENTOR_RUBRIC = "mentor_rubric"


class Route(StrEnum):
    SPO = "spo"  # среднее профессиональное образование (колледж, техникум)
    VO = "vo"  # высшее образование (вуз)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    row: RowId


class _ReasonedRow(_Row):
    reason: Reason


class WeightRow(_ReasonedRow):
    source: Source
    weight: int = Field(ge=1, le=100)


class SubjectRow(_ReasonedRow):
    subject: SchoolSubject
    intent: StudyIntent


class ProfileClassRow(_ReasonedRow):
    title: Annotated[str, Field(min_length=1, max_length=200)]


class RouteRow(_ReasonedRow):
    after_grade: int = Field(description="9 or 11: the grade the route starts after.")
    route: Route
    programme: Annotated[str, Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _after_9_or_11(self) -> Self:
        if self.after_grade not in (9, 11):
            raise ValueError("a route starts after the 9th or the 11th grade")
        if self.after_grade == 9 and self.route is Route.VO:
            raise ValueError("a university (ВО) takes pupils after the 11th grade")
        return self


class EnvironmentRows(_Row):
    environment: Environment
    title: Annotated[str, Field(min_length=1, max_length=100)]
    subjects: tuple[SubjectRow, ...] = Field(min_length=1)
    profile_classes: tuple[ProfileClassRow, ...] = Field(min_length=1)
    routes: tuple[RouteRow, ...] = Field(min_length=1)


class PointsTable(BaseModel):
    """How a piece of evidence turns into 0–100 points of an environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    knowledge_level: dict[Level, Points]
    attendance_per_event: Points
    interest_shown: dict[InterestShown, Points]
    task_completion: dict[TaskCompletion, Points]
    suggested_environment: Points

    @model_validator(mode="after")
    def _complete(self) -> Self:
        for name, keys in (
            ("knowledge_level", Level),
            ("interest_shown", InterestShown),
            ("task_completion", TaskCompletion),
        ):
            if set(getattr(self, name)) != set(keys):
                raise ValueError(f"points.{name} names every value once")
        return self


class IntentRule(_ReasonedRow):
    """Deepen a leading environment's subjects with `intent` when the knowledge of professions of
    that environment is at least `knowledge_at_least`, or the soft skill `skill` at least
    `skill_at_least` (the first rule that holds wins; none: the subject row's own intent)."""

    intent: StudyIntent
    knowledge_at_least: Level | None = None
    skill: Code | None = None
    skill_at_least: Level | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> Self:
        by_knowledge = self.knowledge_at_least is not None
        by_skill = self.skill is not None and self.skill_at_least is not None
        if by_knowledge == by_skill or (self.skill is None) != (self.skill_at_least is None):
            raise ValueError("an intent rule has one condition: knowledge, or a skill and level")
        return self


class OpportunityRule(_ReasonedRow):
    """Why an opportunity is offered (the filters it passed)."""


class RecommendationRules(BaseModel):
    """One version of the rules, as the file states it; `digest` is the file's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules_id: Code
    version: SemVer
    title: Annotated[str, Field(min_length=1, max_length=200)]
    provenance: Annotated[str, Field(min_length=1)]
    leading_count: int = Field(ge=1, le=3)
    max_opportunities: int = Field(ge=1, le=20)
    weights: tuple[WeightRow, ...]
    points: PointsTable
    intent_rules: tuple[IntentRule, ...]
    opportunity_rule: OpportunityRule
    environments: tuple[EnvironmentRows, ...]
    _digest: str = PrivateAttr(default="")
    # The published profile classes and routes made from this table's rows, by row id (unique
    # across the table; `recommend` fills them): a set's are the same frozen values whenever the
    # same rows lead, so each is made once per table, as `row_ref` makes the refs (ADR 0115).
    # A copy starts empty (`__copy__`): its version, so its refs, may differ.
    _classes: dict[str, ProfileClass] = PrivateAttr(default_factory=dict)
    _routes: dict[str, RouteAfterSchool] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if [w.source for w in self.weights] != list(Source):
            raise ValueError("weights: one row per source, in the order " + ", ".join(Source))
        if [e.environment for e in self.environments] != list(Environment):
            raise ValueError("environments: one entry per environment, in the programme's order")
        rows = [row.row for row in self._rows()]
        repeated = sorted({row for row in rows if rows.count(row) > 1})
        if repeated:
            raise ValueError(f"row ids repeat: {', '.join(repeated)}")
        return self

    def _rows(self) -> list[_ReasonedRow | EnvironmentRows]:
        rows: list[_ReasonedRow | EnvironmentRows] = [*self.weights, *self.intent_rules]
        rows.append(self.opportunity_rule)
        for entry in self.environments:
            rows += [entry, *entry.subjects, *entry.profile_classes, *entry.routes]
        return rows

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the file the table was parsed from."""
        return self._digest

    @property
    def ref(self) -> MappingRef:
        return MappingRef(mapping_id=self.rules_id, version=self.version)

    def row_ref(self, row: str) -> MappingRowRef:
        return _row_ref(self.rules_id, self.version, row)

    # Look-ups derived once from the frozen rows (`weight` and `of` run some twenty times per
    # set, ADR 0070); pydantic leaves cached properties out of equality and serialisation.
    @functools.cached_property
    def weight_rows(self) -> dict[Source, WeightRow]:
        return {w.source: w for w in self.weights}

    @functools.cached_property
    def environment_rows(self) -> dict[Environment, EnvironmentRows]:
        return {e.environment: e for e in self.environments}

    @property
    def published_classes(self) -> dict[str, ProfileClass]:
        return self._classes

    @property
    def published_routes(self) -> dict[str, RouteAfterSchool]:
        return self._routes

    def __copy__(self) -> Self:
        return super().__copy__()._underived()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        return super().__deepcopy__(memo)._underived()

    def _underived(self) -> Self:
        """This copy (`model_copy`, `copy.copy`) without what was derived from the original's
        rows and version: pydantic copies the cached properties and the private values with
        the fields, and `model_copy(update=...)` then changes the fields under them."""
        for name in ("weight_rows", "environment_rows"):
            self.__dict__.pop(name, None)
        self._classes = {}
        self._routes = {}
        return self

    def weight(self, source: Source) -> WeightRow:
        return self.weight_rows[source]

    def of(self, environment: Environment) -> EnvironmentRows:
        return self.environment_rows[environment]

    def reason(self, row: str) -> str:
        """The Russian reason (or title) of a row, for explanations."""
        found = next(r for r in self._rows() if r.row == row)
        return found.title if isinstance(found, EnvironmentRows) else found.reason


@functools.cache
def _row_ref(mapping_id: str, version: str, row: str) -> MappingRowRef:
    """A row's reference, made once per table version and row: a set cites some sixty rows, and
    building the (frozen, shared safely) contract value each time was a third of `recommend`'s
    time in the worker's profile (ADR 0063)."""
    return MappingRowRef(mapping_id=mapping_id, version=version, row=row)


def at_least(level: Level, floor: Level) -> bool:
    return LEVEL_ORDER.index(level) >= LEVEL_ORDER.index(floor)


def parse_rules(source: str, data: bytes) -> RecommendationRules:
    """The rules in `data` (a table file's bytes), or `InvalidRules` naming `source` and the field;
    the file must be named `<rules_id>/<version>.json` after what it states."""
    try:
        rules = RecommendationRules.model_validate_json(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidRules(source, f"{where}: {first['msg']}") from error
    expected = f"{rules.rules_id}/{rules.version}.json"
    if not source.endswith(expected):
        raise InvalidRules(source, f"a table stating {expected} is named so")
    rules._digest = hashlib.sha256(data).hexdigest()
    return rules
