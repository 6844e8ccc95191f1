"""What the events service knows of the world beyond its own commands: the ports `Facts` and
`Catalogue`, and their answers.

Identity's and consent's facts (a pupil's school, region, municipality, grade and season, their
accessibility needs — sealed —, the season's maximum of career events, the consent in force) and
the service's own published career events reach the read side only as events, into a read model
of its own (`adapters/facts.py`); use cases ask through these ports and never call another
service. Nothing here is readable personal data: ids, grades, dates, purposes, and the needs only
as the sealed value identity published (docs/adr/0017, 0026, 0031).
"""

import base64
import binascii
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import CareerEventFormat, CareerEventPublished
from bilet.contracts.sealed import Sealed
from bilet.contracts.vocabulary import Environment


@dataclass(frozen=True)
class SealedNeeds:
    """A pupil's accessibility needs as identity sealed them, with the generation of the health
    key that seals them: opened (if ever) only by a use case holding the key, never here."""

    value: Sealed
    key_generation: int


@dataclass(frozen=True)
class Pupil:
    """What the events service knows of a participant; no readable personal data."""

    participant_id: UUID
    school_id: UUID
    region_id: UUID
    # The municipality of their school; None while identity's school registration is not here.
    municipality: str | None
    grade: int
    season: int  # the season of their latest enrolment (or registration)
    # The purposes of the verified consent in force on the day asked about; empty when none.
    purposes: frozenset[Purpose]
    erased: bool
    # As identity last stated them; None when never stated.
    sealed_needs: SealedNeeds | None
    # The kept profile, once identity merged this one into it (docs/adr/0043): closed here.
    merged_into: UUID | None = None

    def consents_to(self, purpose: Purpose) -> bool:
        return not self.erased and purpose in self.purposes

    @property
    def accessibility_needs(self) -> SealedNeeds | None:
        """The sealed needs only while a consent in force covers health data: without it the
        service must act as if it knew none (the refusal says so, issue #14)."""
        return self.sealed_needs if self.consents_to(Purpose.HEALTH_DATA) else None


@dataclass(frozen=True)
class Attendee:
    """What a roster shows of a booked pupil, as the feed has it: their school (None until
    identity's registration is here), its name (None until the school's registration is here)
    and their full name as identity sealed it with their key (None once erased or before the
    registration arrives): opened only by the roster, audited."""

    participant_id: UUID
    school_id: UUID | None
    school_name: str | None
    sealed_full_name: Sealed | None


class Facts(Protocol):
    """The read side's answers about pupils and seasons, as of what the feed has applied."""

    async def pupil(self, participant_id: UUID, today: date) -> Pupil | None:
        """The pupil, with the consent purposes in force on `today`; None if identity's
        registration has not arrived (or never will)."""
        ...

    async def max_career_events(self, season: int) -> int | None:
        """How many career events one participant may attend in the season (the rules in force:
        highest `rules_version`); None if no rules were published."""
        ...

    async def attendees(self, participant_ids: Collection[UUID]) -> dict[UUID, Attendee]:
        """The roster's facts of each known participant of `participant_ids` (unknown ones are
        left out)."""
        ...


# ---------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class CatalogueFilter:
    """The catalogue's filters (issue #14); None: not filtered. A career event matches when one
    of its sessions does: starting within [`starts_from`, `starts_before`) with at least
    `min_seats_left` seats left. Cancelled career events are never listed."""

    region_id: UUID | None = None
    municipality: str | None = None
    environment: Environment | None = None
    grade: int | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    format: CareerEventFormat | None = None
    min_seats_left: int | None = None


@dataclass(frozen=True, order=True)
class CatalogueCursor:
    """Where a page ends: the career event's earliest matching session start and its id; the
    next page starts after it. Opaque to clients (`encode`/`decode`)."""

    starts_at: datetime
    career_event_id: UUID

    def encode(self) -> str:
        text = json.dumps([self.starts_at.isoformat(), str(self.career_event_id)])
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def after(cls, entry: "CatalogueEntry") -> "CatalogueCursor":
        """The cursor just after `entry`: its earliest matching session's start, its id."""
        starts = {session.session_id: session.starts_at for session in entry.sessions}
        earliest = min(starts[session] for session in entry.matching)
        return cls(earliest, entry.career_event.career_event_id)

    @classmethod
    def decode(cls, token: str) -> "CatalogueCursor":
        """The cursor a page gave; ValueError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            starts_at, career_event_id = json.loads(raw)
            cursor = cls(datetime.fromisoformat(starts_at), UUID(career_event_id))
        except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as error:
            raise ValueError("not a catalogue cursor") from error
        if cursor.starts_at.tzinfo is None:
            raise ValueError("not a catalogue cursor")
        return cursor


@dataclass(frozen=True)
class SessionSeats:
    session_id: UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    seats_left: int
    waiting: int  # pupils in the session's waitlist


@dataclass(frozen=True)
class CatalogueEntry:
    """A career event as published (with its latest revision folded in), and its sessions with
    seats left; `matching` are those that met the filter, in start order."""

    career_event: CareerEventPublished
    cancelled: bool
    sessions: tuple[SessionSeats, ...]
    matching: tuple[UUID, ...]


@dataclass(frozen=True)
class CataloguePage:
    entries: tuple[CatalogueEntry, ...]
    next_cursor: CatalogueCursor | None  # None: the last page


class Catalogue(Protocol):
    """The service's own career events as the catalogue shows them (as of the feed)."""

    async def career_event(self, career_event_id: UUID) -> CatalogueEntry | None:
        """The career event (cancelled ones too), every session matching; None if unknown."""
        ...

    async def search(
        self, where: CatalogueFilter, *, after: CatalogueCursor | None, limit: int
    ) -> CataloguePage:
        """Career events matching `where`, ordered by their earliest matching session's start
        then id, `limit` at most, after `after`."""
        ...
