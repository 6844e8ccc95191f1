"""Schools: a regional coordinator registers the general-education schools of an admitted region.

A school's id is derived from its region, municipality and name, so registering the same school
twice (even at once, from two browsers) meets the existing stream: one school, one stream.
"""

import re
import uuid
from dataclasses import dataclass
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts.catalogue.identity import SchoolRegistered
from bilet_identity.domain.errors import DuplicateSchool, RegionNotAdmitted, UnknownRegion
from bilet_identity.domain.region import Region
from bilet_identity.domain.validation import build

_SPACES: Final = re.compile(r"\s+")


def _fold(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold().replace("ё", "е")


def school_id_for(region_id: UUID, municipality: str, name: str) -> UUID:
    return uuid.uuid5(region_id, f"school:{_fold(municipality)}\x1f{_fold(name)}")


@dataclass(frozen=True, slots=True)
class School:
    school_id: UUID
    region_id: UUID
    name: str
    municipality: str


initial: Final[School | None] = None


@dataclass(frozen=True, slots=True)
class RegisterSchool:
    region: Region | None  # the school's region as it stands, looked up by the handler
    name: str
    municipality: str

    def school_id(self, region_id: UUID) -> UUID:
        return school_id_for(region_id, self.municipality, self.name)


# One command and one event today; the aliases make a second one fail mypy until handled.
Command = RegisterSchool
SchoolEvent = SchoolRegistered


def decide(command: Command, state: School | None) -> list[SchoolEvent]:
    match command:
        case RegisterSchool():
            return _register(command, state)
        case _:
            assert_never(command)


def _register(command: RegisterSchool, state: School | None) -> list[SchoolEvent]:
    region = command.region
    if region is None:
        raise UnknownRegion()
    if not region.seasons:
        raise RegionNotAdmitted()
    school_id = command.school_id(region.region_id)
    if state is not None:
        raise DuplicateSchool(state.school_id)
    return [
        build(
            SchoolRegistered,
            school_id=school_id,
            region_id=region.region_id,
            name=_SPACES.sub(" ", command.name).strip(),
            municipality=_SPACES.sub(" ", command.municipality).strip(),
        )
    ]


def evolve(state: School | None, event: SchoolEvent) -> School:
    match event:
        case SchoolRegistered():
            return School(event.school_id, event.region_id, event.name, event.municipality)
        case _:
            assert_never(event)


def stream_id(school_id: UUID) -> str:
    return f"{SchoolRegistered.stream_category}-{school_id}"
