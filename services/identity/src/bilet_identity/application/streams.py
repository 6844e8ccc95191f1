"""The streams identity decides on, each with the fold its decider defines (`initial`, `evolve`),
for `bilet.application.Transactor`."""

from uuid import UUID

from bilet.application import Fold
from bilet_identity.domain import participant as participants
from bilet_identity.domain import profile as profiles
from bilet_identity.domain import region as regions
from bilet_identity.domain import reservation as reservations
from bilet_identity.domain import school as schools
from bilet_identity.domain import season as seasons
from bilet_identity.domain.participant import Participant
from bilet_identity.domain.profile import Profile
from bilet_identity.domain.region import Region
from bilet_identity.domain.reservation import Reservation
from bilet_identity.domain.school import School
from bilet_identity.domain.season import SeasonRules


def season(number: int) -> Fold[SeasonRules | None]:
    return Fold(seasons.stream_id(number), seasons.initial, seasons.evolve)


def region(region_id: UUID) -> Fold[Region | None]:
    return Fold(regions.stream_id(region_id), regions.initial, regions.evolve)


def school(school_id: UUID) -> Fold[School | None]:
    return Fold(schools.stream_id(school_id), schools.initial, schools.evolve)


def participant(participant_id: UUID) -> Fold[Participant | None]:
    return Fold(participants.stream_id(participant_id), participants.initial, participants.evolve)


def profile(participant_id: UUID) -> Fold[Profile | None]:
    return Fold(profiles.stream_id(participant_id), profiles.initial, profiles.evolve)


def reservation(key: str) -> Fold[Reservation | None]:
    return Fold(reservations.stream_id(key), reservations.initial, reservations.evolve)
