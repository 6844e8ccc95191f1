"""Regions: admitted to the programme for a season (selected by competition), each with its
regional coordinator; and the windows in which their pupils take the online diagnostics.

A region's id is derived from its code (47: Leningrad oblast), so there is one stream per region,
`region-<id>`, whatever season it is admitted to. The code is one of the 89 subjects of the
Russian Federation and the time zone one of the country's IANA zones (`russia`).
"""

import uuid
from dataclasses import dataclass, replace
from datetime import date
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts.catalogue.identity import DiagnosticsWindowScheduled, RegionAdmitted
from bilet.contracts.vocabulary import Stage
from bilet_identity.domain.errors import (
    InvalidDetails,
    InvalidWindow,
    RegionAlreadyAdmitted,
    RegionNotAdmitted,
    UnknownSeason,
)
from bilet_identity.domain.russia import REGION_CODES, TIME_ZONES
from bilet_identity.domain.season import SeasonRules
from bilet_identity.domain.validation import build

REGION_NAMESPACE: Final = UUID("6f1c8e3a-2b0d-5e47-9a61-4d7c0b2e8f15")


def region_id_for(region_code: str) -> UUID:
    """One region, one id, everywhere: derived from the code of the constituent entity."""
    return uuid.uuid5(REGION_NAMESPACE, f"region:{region_code}")


@dataclass(frozen=True, slots=True)
class DiagnosticsWindow:
    season: int
    stages: tuple[Stage, ...]
    opens_on: date
    closes_on: date


@dataclass(frozen=True, slots=True)
class Region:
    region_id: UUID
    region_code: str
    name: str
    time_zone: str
    coordinator: str
    seasons: frozenset[int]
    windows: tuple[DiagnosticsWindow, ...] = ()

    def admitted_in(self, season: int) -> bool:
        return season in self.seasons


initial: Final[Region | None] = None


@dataclass(frozen=True, slots=True)
class AdmitRegion:
    region_code: str
    name: str
    season: int
    time_zone: str
    coordinator: str
    rules: SeasonRules | None  # the season's rules in force, looked up by the handler

    @property
    def region_id(self) -> UUID:
        return region_id_for(self.region_code)


@dataclass(frozen=True, slots=True)
class ScheduleDiagnosticsWindow:
    region_id: UUID
    season: int
    stages: tuple[Stage, ...]
    opens_on: date
    closes_on: date
    rules: SeasonRules | None


Command = AdmitRegion | ScheduleDiagnosticsWindow
RegionEvent = RegionAdmitted | DiagnosticsWindowScheduled


def decide(command: Command, state: Region | None) -> list[RegionEvent]:
    match command:
        case AdmitRegion():
            return _admit(command, state)
        case ScheduleDiagnosticsWindow():
            return _schedule(command, state)
        case _:
            assert_never(command)


def _admit(command: AdmitRegion, state: Region | None) -> list[RegionEvent]:
    if command.region_code not in REGION_CODES:
        raise InvalidDetails(
            "region_code", "Not the code of a subject of the Russian Federation (01–95)."
        )
    if command.time_zone not in TIME_ZONES:
        raise InvalidDetails(
            "time_zone", "Not an IANA time zone of Russia (e.g. Europe/Moscow, Asia/Omsk)."
        )
    if command.rules is None:
        raise UnknownSeason(command.season)
    if state is not None and state.admitted_in(command.season):
        raise RegionAlreadyAdmitted(command.season)
    return [
        build(
            RegionAdmitted,
            region_id=command.region_id,
            region_code=command.region_code,
            name=command.name,
            season=command.season,
            time_zone=command.time_zone,
            coordinator=command.coordinator,
        )
    ]


def _schedule(command: ScheduleDiagnosticsWindow, state: Region | None) -> list[RegionEvent]:
    if state is None or not state.admitted_in(command.season):
        raise RegionNotAdmitted(f"The region is not admitted to season {command.season}.")
    rules = command.rules
    if rules is None:
        raise UnknownSeason(command.season)
    if command.closes_on < command.opens_on:
        raise InvalidWindow("The window closes before it opens.")
    if command.opens_on < rules.starts_on or command.closes_on > rules.ends_on:
        raise InvalidWindow("The window lies outside the season.")
    if not command.stages or len(set(command.stages)) != len(command.stages):
        raise InvalidWindow("The window's stages are listed once each.")
    if not set(command.stages) <= set(rules.diagnostics_stages):
        raise InvalidWindow("A stage of the window does not run in this season.")
    window = DiagnosticsWindow(command.season, command.stages, command.opens_on, command.closes_on)
    if window in state.windows:
        return []
    return [
        build(
            DiagnosticsWindowScheduled,
            region_id=command.region_id,
            season=command.season,
            stages=command.stages,
            opens_on=command.opens_on,
            closes_on=command.closes_on,
        )
    ]


def evolve(state: Region | None, event: RegionEvent) -> Region | None:
    match event, state:
        case RegionAdmitted(), _:
            seasons = frozenset({event.season}) | (state.seasons if state else frozenset())
            return Region(
                region_id=event.region_id,
                region_code=event.region_code,
                name=event.name,
                time_zone=event.time_zone,
                coordinator=event.coordinator,
                seasons=seasons,
                windows=state.windows if state else (),
            )
        case _, None:
            return None  # a window before the admission: nothing to change
        case DiagnosticsWindowScheduled(), Region():
            # A later window for the same season and stages replaces the earlier one.
            kept = tuple(
                w
                for w in state.windows
                if not (w.season == event.season and w.stages == event.stages)
            )
            window = DiagnosticsWindow(event.season, event.stages, event.opens_on, event.closes_on)
            return replace(state, windows=(*kept, window))
        case _:
            assert_never(event)


def stream_id(region_id: UUID) -> str:
    return f"{RegionAdmitted.stream_category}-{region_id}"
