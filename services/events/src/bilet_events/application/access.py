"""Who may do what, by role and scope. A role is refused before anything is looked up; a
participant outside the caller's scope is answered as unknown."""

from uuid import UUID

from bilet.contracts.catalogue.events import CareerEventPublished
from bilet.http.auth import Principal, Role
from bilet_events.application.errors import AccessDenied
from bilet_events.application.facts import Pupil

PUBLISHERS = (Role.ORGANISER, Role.COORDINATOR)
BOOKERS = (Role.PUPIL, Role.REGISTRAR, Role.NAVIGATOR)
ATTENDANCE_TAKERS = (Role.ORGANISER, Role.MENTOR)


def require(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise AccessDenied()


def may_book_for(principal: Principal, pupil: Pupil) -> bool:
    """The pupil themself, or their school's registrar or navigator."""
    if principal.role is Role.PUPIL:
        return principal.participant_id == str(pupil.participant_id)
    return principal.school_id == str(pupil.school_id)


def may_ask_for(principal: Principal, pupil: Pupil) -> bool:
    """Who may ask what suits a pupil: the pupil, a guardian of theirs, their school's
    registrar or navigator."""
    pid = str(pupil.participant_id)
    match principal.role:
        case Role.PUPIL:
            return principal.participant_id == pid
        case Role.GUARDIAN:
            return pid in principal.children
        case Role.REGISTRAR | Role.NAVIGATOR:
            return principal.school_id == str(pupil.school_id)
        case _:
            return False


def in_region(principal: Principal, region_id: UUID) -> bool:
    """A coordinator publishes in their region; an organiser at their venue (any region)."""
    return principal.role is not Role.COORDINATOR or principal.region_id == str(region_id)


def organises(principal: Principal, organiser_id: UUID) -> bool:
    """An organiser's scope is their venue's career events (their `venue_id` is the organising
    organisation)."""
    return principal.role is Role.ORGANISER and principal.venue_id == str(organiser_id)


def mentors(principal: Principal, mentor_ids: tuple[UUID, ...]) -> bool:
    return principal.role is Role.MENTOR and principal.subject in {str(m) for m in mentor_ids}


def manages(principal: Principal, published: CareerEventPublished) -> bool:
    """The career event is the caller's to manage: its organiser, the coordinator of its region
    or one of its mentors (which of them may do what is the use case's role check)."""
    return (
        organises(principal, published.organiser_id)
        or mentors(principal, published.mentors)
        or (principal.role is Role.COORDINATOR and principal.region_id == str(published.region_id))
    )
