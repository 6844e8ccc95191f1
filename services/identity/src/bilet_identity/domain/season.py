"""Season rules: versioned configuration, never constants.

The federal operator publishes a season's rules (eligible grades, how many career events, which
diagnostics stages, the season's dates) and may revise them within the season: every revision is
a new `rules_version`, the highest one is in force. Stream: `season-<year>`.

A season lies inside one school year (1 September to 31 August), starts in the year it is named
after and holds the regions' testing windows set for it. Once it has started, a revision never
rewrites what happened: it applies from the day it is published (`applies_from`, on the event
since its version 2; past results keep the `rules_version` they were scored under,
docs/adr/0050), it keeps the start, and it cannot end the season before
that day; once it has ended, its rules are history (docs/adr/0041).
"""

from dataclasses import dataclass
from datetime import date
from typing import Final, assert_never

from bilet.contracts.catalogue.identity import SeasonRulesPublished
from bilet.contracts.vocabulary import GradeRange, Stage
from bilet_identity.domain.errors import InvalidSeasonRules, SeasonClosed, SeasonStarted
from bilet_identity.domain.validation import build


@dataclass(frozen=True, slots=True)
class SeasonRules:
    """The rules in force for one season."""

    season: int
    rules_version: int
    lowest_grade: int
    highest_grade: int
    max_career_events: int
    diagnostics_stages: tuple[Stage, ...]
    starts_on: date
    ends_on: date
    # The day this version is in force from (docs/adr/0050); None: the season's start.
    applies_from: date | None = None

    def admits_grade(self, grade: int) -> bool:
        return self.lowest_grade <= grade <= self.highest_grade


initial: Final[SeasonRules | None] = None


@dataclass(frozen=True, slots=True)
class PublishSeasonRules:
    season: int
    lowest_grade: int
    highest_grade: int
    max_career_events: int
    diagnostics_stages: tuple[Stage, ...]
    starts_on: date
    ends_on: date
    # The day it is published on (the application's today): whether the season has started.
    today: date | None = None
    # The regions' testing windows already set for the season (opens, closes): a revision keeps
    # each of them inside the season.
    windows: tuple[tuple[date, date], ...] = ()


def school_year(day: date) -> int:
    """The school year a day belongs to, by the year it starts in (1 September)."""
    return day.year if day.month >= 9 else day.year - 1


# One command and one event today; the aliases make a second one fail mypy until handled.
Command = PublishSeasonRules
SeasonEvent = SeasonRulesPublished


def decide(command: Command, state: SeasonRules | None) -> list[SeasonEvent]:
    match command:
        case PublishSeasonRules():
            return _publish(command, state)
        case _:
            assert_never(command)


def _publish(command: PublishSeasonRules, state: SeasonRules | None) -> list[SeasonEvent]:
    """A new revision of the season's rules; nothing when they are the rules in force already."""
    if not 1 <= command.lowest_grade <= command.highest_grade <= 11:
        raise InvalidSeasonRules("Eligible grades run from a lowest to a highest grade in 1–11.")
    if command.ends_on < command.starts_on:
        raise InvalidSeasonRules("The season ends before it starts.")
    if command.starts_on.year != command.season:
        raise InvalidSeasonRules("A season starts in the year it is named after.")
    if school_year(command.starts_on) != school_year(command.ends_on):
        raise InvalidSeasonRules("A season lies inside one school year (1 September to 31 August).")
    if not command.diagnostics_stages or len(set(command.diagnostics_stages)) != len(
        command.diagnostics_stages
    ):
        raise InvalidSeasonRules("The diagnostics stages are listed once each.")
    if not 1 <= command.max_career_events <= 10:
        raise InvalidSeasonRules("A participant attends 1 to 10 career events.")
    if state is not None and (
        state.lowest_grade,
        state.highest_grade,
        state.max_career_events,
        state.diagnostics_stages,
        state.starts_on,
        state.ends_on,
    ) == (
        command.lowest_grade,
        command.highest_grade,
        command.max_career_events,
        command.diagnostics_stages,
        command.starts_on,
        command.ends_on,
    ):
        return []
    applies_from = command.starts_on
    if state is not None and command.today is not None:
        _check_history_kept(command, state, command.today)
        # A revision of a running season applies from its day: the past keeps its version.
        applies_from = max(command.starts_on, command.today)
    if any(
        opens < command.starts_on or closes > command.ends_on for opens, closes in command.windows
    ):
        raise InvalidSeasonRules("A region's testing window would lie outside the season.")
    return [
        build(
            SeasonRulesPublished,
            season=command.season,
            rules_version=1 if state is None else state.rules_version + 1,
            eligible_grades=GradeRange(lowest=command.lowest_grade, highest=command.highest_grade),
            max_career_events=command.max_career_events,
            diagnostics_stages=command.diagnostics_stages,
            starts_on=command.starts_on,
            ends_on=command.ends_on,
            applies_from=applies_from,
        )
    ]


def _check_history_kept(command: PublishSeasonRules, state: SeasonRules, today: date) -> None:
    """A revision of a season that has started applies from today: it may not change the past."""
    if today > state.ends_on:
        raise SeasonClosed(command.season, state.ends_on)
    if today < state.starts_on:
        return  # not started: the whole season is still to come
    if command.starts_on != state.starts_on:
        raise SeasonStarted(command.season, state.starts_on)
    if command.ends_on < today:
        raise InvalidSeasonRules("A running season cannot end before the day of the revision.")


def evolve(state: SeasonRules | None, event: SeasonEvent) -> SeasonRules:
    match event:
        case SeasonRulesPublished():
            if state is not None and event.rules_version <= state.rules_version:
                return state  # an older revision never replaces the one in force
            return SeasonRules(
                season=event.season,
                rules_version=event.rules_version,
                lowest_grade=event.eligible_grades.lowest,
                highest_grade=event.eligible_grades.highest,
                max_career_events=event.max_career_events,
                diagnostics_stages=event.diagnostics_stages,
                starts_on=event.starts_on,
                ends_on=event.ends_on,
                applies_from=event.applies_from,
            )
        case _:
            assert_never(event)


def stream_id(season: int) -> str:
    return f"{SeasonRulesPublished.stream_category}-{season}"
