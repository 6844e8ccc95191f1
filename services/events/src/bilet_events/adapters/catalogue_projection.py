"""The catalogue's part of the read model: the service's own published career events folded into
`cat_*` tables — each career event as published with its latest revision, its sessions with the
seats left and the waitlist's length, and each booking's state (to tell a seat released from a
line left).

Every fact of a career event is one stream (`career_event-<id>`, docs/adr/0027), so its events
arrive in order and each change here is confined to it: a replay in any interleaving of streams
builds the same tables. The seats left are recounted from the bookings on every change rather than
incremented, so applying an event again after a rollback cannot drift them. No personal data:
participant ids are not even kept (the sealed needs of `SeatBooked` are never stored).
"""

import json
from datetime import UTC, datetime
from typing import Final

from bilet.contracts import decode
from bilet.contracts.catalogue.events import (
    BookingCancelled,
    CareerEventCancelled,
    CareerEventPublished,
    CareerEventRevised,
    CareerEventSession,
    SeatBooked,
    WaitlistJoined,
)
from bilet.eventstore import RecordedEvent
from bilet.projections import ReadModelTx, Table

HANDLED: Final = frozenset(
    {
        "CareerEventPublished",
        "CareerEventRevised",
        "CareerEventCancelled",
        "SeatBooked",
        "WaitlistJoined",
        "BookingCancelled",
    }
)

BOOKED: Final = "booked"
WAITING: Final = "waiting"
CANCELLED: Final = "cancelled"

TABLES: Final = (
    # `environments` is ",a,b," so one environment matches with LIKE '%,a,%' on both databases;
    # `published` is the CareerEventPublished (JSON) with the latest revision folded in.
    Table(
        "cat_career_events",
        "career_event_id TEXT PRIMARY KEY, region_id TEXT NOT NULL, "
        "municipality TEXT NOT NULL, format TEXT NOT NULL, environments TEXT NOT NULL, "
        "grade_lowest INTEGER NOT NULL, grade_highest INTEGER NOT NULL, "
        "cancelled BOOLEAN NOT NULL, published TEXT NOT NULL",
        indexes=("region_id, municipality",),
    ),
    # Times as UTC text of one fixed width (`utc_text`), so text order is time order.
    Table(
        "cat_sessions",
        "career_event_id TEXT NOT NULL, session_id TEXT NOT NULL, starts_at TEXT NOT NULL, "
        "ends_at TEXT NOT NULL, capacity INTEGER NOT NULL, seats_left INTEGER NOT NULL, "
        "waiting INTEGER NOT NULL, PRIMARY KEY (career_event_id, session_id)",
        indexes=("starts_at",),
    ),
    Table(
        "cat_bookings",
        "career_event_id TEXT NOT NULL, booking_id TEXT NOT NULL, session_id TEXT NOT NULL, "
        "state TEXT NOT NULL, PRIMARY KEY (career_event_id, booking_id)",
        indexes=("career_event_id, session_id, state",),
    ),
)


def utc_text(moment: datetime) -> str:
    """`moment` as UTC text of fixed width: compared as text, ordered as time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


_RECOUNT: Final = (
    "UPDATE {cat_sessions} SET "
    "seats_left = capacity - (SELECT COUNT(*) FROM {cat_bookings} b WHERE "
    "b.career_event_id = $1 AND b.session_id = $2 AND b.state = 'booked'), "
    "waiting = (SELECT COUNT(*) FROM {cat_bookings} b WHERE "
    "b.career_event_id = $1 AND b.session_id = $2 AND b.state = 'waiting') "
    "WHERE career_event_id = $1 AND session_id = $2"
)
_BOOKING: Final = (
    "INSERT INTO {cat_bookings} (career_event_id, booking_id, session_id, state) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (career_event_id, booking_id) DO UPDATE SET "
    "session_id = excluded.session_id, state = excluded.state"
)
_SESSION: Final = (
    "INSERT INTO {cat_sessions} (career_event_id, session_id, starts_at, ends_at, capacity, "
    "seats_left, waiting) VALUES ($1, $2, $3, $4, $5, $5, 0) "
    "ON CONFLICT (career_event_id, session_id) DO UPDATE SET starts_at = excluded.starts_at, "
    "ends_at = excluded.ends_at, capacity = excluded.capacity"
)


async def apply_catalogue(tx: ReadModelTx, event: RecordedEvent) -> None:
    """Fold one of the service's own published events into the catalogue's tables."""
    if event.type not in HANDLED:
        return
    match decode(event):
        case CareerEventPublished() as published:
            await _store(tx, published)
        case CareerEventRevised() as revised:
            known = await tx.fetchval(
                "SELECT published FROM {cat_career_events} WHERE career_event_id = $1",
                str(revised.career_event_id),
            )
            if known is None:
                return  # never before its publication in one stream; nothing to revise
            before = CareerEventPublished.model_validate_json(known)
            # Contracts are strict in Python: the merged details are read back as JSON.
            merged = {**before.model_dump(mode="json"), **revised.model_dump(mode="json")}
            after = CareerEventPublished.model_validate_json(json.dumps(merged))
            await _store(tx, after)
        case CareerEventCancelled() as cancelled:
            await tx.execute(
                "UPDATE {cat_career_events} SET cancelled = TRUE WHERE career_event_id = $1",
                str(cancelled.career_event_id),
            )
        case SeatBooked() as booked:
            await _booking(tx, booked.career_event_id, booked.booking_id, booked.session_id, BOOKED)
        case WaitlistJoined() as joined:
            await _booking(
                tx, joined.career_event_id, joined.booking_id, joined.session_id, WAITING
            )
        case BookingCancelled() as released:
            session = await tx.fetchval(
                "SELECT session_id FROM {cat_bookings} WHERE career_event_id = $1 "
                "AND booking_id = $2",
                str(released.career_event_id),
                str(released.booking_id),
            )
            if session is not None:
                await tx.execute(
                    "UPDATE {cat_bookings} SET state = $3 WHERE career_event_id = $1 "
                    "AND booking_id = $2",
                    str(released.career_event_id),
                    str(released.booking_id),
                    CANCELLED,
                )
                await tx.execute(_RECOUNT, str(released.career_event_id), session)


async def _booking(
    tx: ReadModelTx, career_event_id: object, booking_id: object, session_id: object, state: str
) -> None:
    await tx.execute(_BOOKING, str(career_event_id), str(booking_id), str(session_id), state)
    await tx.execute(_RECOUNT, str(career_event_id), str(session_id))


async def _store(tx: ReadModelTx, career_event: CareerEventPublished) -> None:
    """The career event's row and its sessions as `career_event` states them: a session left out
    is withdrawn, one kept keeps its bookings."""
    ce = str(career_event.career_event_id)
    await tx.execute(
        "INSERT INTO {cat_career_events} (career_event_id, region_id, municipality, format, "
        "environments, grade_lowest, grade_highest, cancelled, published) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8) ON CONFLICT (career_event_id) DO UPDATE "
        "SET region_id = excluded.region_id, municipality = excluded.municipality, "
        "format = excluded.format, environments = excluded.environments, "
        "grade_lowest = excluded.grade_lowest, grade_highest = excluded.grade_highest, "
        "published = excluded.published",
        ce,
        str(career_event.region_id),
        career_event.municipality,
        career_event.format.value,
        "," + ",".join(env.value for env in career_event.environments) + ",",
        career_event.eligible_grades.lowest,
        career_event.eligible_grades.highest,
        career_event.model_dump_json(),
    )
    kept = [str(session.session_id) for session in career_event.sessions]
    for row in await tx.fetch(
        "SELECT session_id FROM {cat_sessions} WHERE career_event_id = $1", ce
    ):
        if row[0] not in kept:
            await tx.execute(
                "DELETE FROM {cat_sessions} WHERE career_event_id = $1 AND session_id = $2",
                ce,
                row[0],
            )
    for session in career_event.sessions:
        await _session(tx, ce, session)


async def _session(tx: ReadModelTx, career_event_id: str, session: CareerEventSession) -> None:
    sid = str(session.session_id)
    await tx.execute(
        _SESSION,
        career_event_id,
        sid,
        utc_text(session.starts_at),
        utc_text(session.ends_at),
        session.capacity,
    )
    await tx.execute(_RECOUNT, career_event_id, sid)
