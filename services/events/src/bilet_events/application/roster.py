"""The roster of a career event for the check-in: per session the booked pupils with their
display names and schools, how many wait in line, and how many pupils need each accommodation.

Only the organiser of the venue and the career event's mentors see it (anyone else: no such
career event). The sessions and bookings come from the event store (authoritative: a booking
just made is on it); the schools and the sealed full names from the facts read model. A display
name is "Фамилия Имя", opened with the pupil's key (None once erased); the accessibility summary
is counted from the seats' sealed needs (each opened with the pupil's health key of its
generation; a destroyed key counts nothing) — never a diagnosis, a birth date or a СНИЛС. Every
pupil listed is audited (purpose `career_event_roster`) with what was shown of them: their school,
their name and needs when opened.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from bilet.audit import Access, AuditRecord
from bilet.contracts.sealed import SealedValue
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.crypto.fields import is_erased
from bilet_events.application import access
from bilet_events.application.accessibility import FIELD, open_summary
from bilet_events.application.base import EventsCore
from bilet_events.application.facts import Attendee
from bilet_events.application.inputs import CommandContext
from bilet_events.application.streams import career_event_of
from bilet_events.domain.career_event import Booking, CareerEvent, Session
from bilet_events.domain.errors import UnknownCareerEvent

PURPOSE: Final = "career_event_roster"
FULL_NAME: Final = "full_name"
SCHOOL: Final = "school"

BOOKED: Final = "booked"
ATTENDED: Final = "attended"
MISSED: Final = "missed"


@dataclass(frozen=True)
class RosterPupil:
    booking_id: UUID
    participant_id: UUID
    display_name: str | None  # "Фамилия Имя"; None once erased or not yet known here
    school_id: UUID | None
    school_name: str | None
    attendance: str  # "booked" | "attended" | "missed"


@dataclass(frozen=True)
class NeedCount:
    need: AccessibilityNeed
    pupils: int


@dataclass(frozen=True)
class RosterSession:
    session_id: UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    waiting: int
    pupils: tuple[RosterPupil, ...]
    accessibility: tuple[NeedCount, ...]  # in the closed list's order; needs of no pupil left out


@dataclass(frozen=True)
class Roster:
    career_event_id: UUID
    sessions: tuple[RosterSession, ...]


class Rosters(EventsCore):
    async def roster(self, ctx: CommandContext, career_event_id: UUID) -> Roster:
        """The career event's roster (its venue's organiser and its mentors; anyone else finds
        no such career event). Audited per pupil listed, before the answer."""
        state = await self.transactor.attempt().state(career_event_of(career_event_id))
        published = state.published
        if published is None or not (
            access.organises(ctx.principal, published.organiser_id)
            or access.mentors(ctx.principal, published.mentors)
        ):
            raise UnknownCareerEvent()
        booked = [b for s in state.sessions.values() for b in s.booked]
        attendees = await self.facts.attendees([b.participant_id for b in booked])
        # What the answer shows of each listed pupil: their school at least, as personal data.
        opened: dict[UUID, set[str]] = {b.participant_id: set() for b in booked}
        names = {
            b.participant_id: await self._name(attendees.get(b.participant_id)) for b in booked
        }
        for pid, name in names.items():
            if name is not None:
                opened[pid].add(FULL_NAME)
            if pid in attendees and attendees[pid].school_id is not None:
                opened[pid].add(SCHOOL)
        sessions = []
        for session in sorted(state.sessions.values(), key=lambda s: s.details.starts_at):
            counts = await self._need_counts(session, opened)
            pupils = tuple(
                _pupil(state, b, names, attendees.get(b.participant_id)) for b in session.booked
            )
            sessions.append(
                RosterSession(
                    session_id=session.details.session_id,
                    starts_at=session.details.starts_at,
                    ends_at=session.details.ends_at,
                    capacity=session.details.capacity,
                    waiting=len(session.waiting),
                    pupils=pupils,
                    accessibility=counts,
                )
            )
        await self.audit.record(*_audited(ctx, opened))
        return Roster(career_event_id, tuple(sessions))

    async def _name(self, attendee: Attendee | None) -> str | None:
        """ "Фамилия Имя" opened from the sealed full name; None when there is none to open."""
        if attendee is None or not isinstance(attendee.sealed_full_name, SealedValue):
            return None
        envelope = {FULL_NAME: attendee.sealed_full_name.envelope()}
        full = (await self.cipher.decrypt(str(attendee.participant_id), envelope))[FULL_NAME]
        if is_erased(full) or not isinstance(full, dict):
            return None
        return f"{full['last_name']} {full['first_name']}"

    async def _need_counts(
        self, session: Session, opened: dict[UUID, set[str]]
    ) -> tuple[NeedCount, ...]:
        """How many of the session's booked pupils need each accommodation."""
        counts: Counter[AccessibilityNeed] = Counter()
        for booking in session.booked:
            summary = session.summaries.get(booking.booking_id)
            if summary is None:
                continue
            needs = await open_summary(self.cipher, summary, booking.participant_id)
            if needs.checked:
                opened.setdefault(booking.participant_id, set()).add(FIELD)
            counts.update(needs.needs)
        return tuple(NeedCount(need, counts[need]) for need in AccessibilityNeed if counts[need])


def _pupil(
    state: CareerEvent, booking: Booking, names: dict[UUID, str | None], attendee: Attendee | None
) -> RosterPupil:
    session = state.sessions[booking.session_id]
    if booking.booking_id in state.attended:
        attendance = ATTENDED
    elif booking.booking_id in session.recorded:
        attendance = MISSED
    else:
        attendance = BOOKED
    return RosterPupil(
        booking_id=booking.booking_id,
        participant_id=booking.participant_id,
        display_name=names.get(booking.participant_id),
        school_id=attendee.school_id if attendee else None,
        school_name=attendee.school_name if attendee else None,
        attendance=attendance,
    )


def _audited(ctx: CommandContext, opened: dict[UUID, set[str]]) -> list[AuditRecord]:
    return [
        ctx.audit(Access.READ, participant_id, PURPOSE, sorted(fields))
        for participant_id, fields in opened.items()
    ]
