"""The peer of `bench_events`: the classic booking of a seat, a bare FastAPI endpoint over
PostgreSQL with nothing of the service around it.

`POST /sessions/{session_id}/bookings` `{"participant_id"}` runs one transaction on the same
PostgreSQL server as ours: `UPDATE sessions SET taken = taken + 1 WHERE taken < capacity` (the
row lock serialises racers, the condition keeps the capacity exact), else the next place in line
(`waiting = waiting + 1`), plus the insert of the booking. 201 with the booking, 202 with its
place in line, as the events API answers. No token, no rules, no audit, no events: what a seat
costs at the least.
"""

import uuid
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel


class BookingRequest(BaseModel):
    participant_id: uuid.UUID


async def create_tables(pool: asyncpg.Pool, schema: str) -> None:
    await pool.execute(
        f'CREATE SCHEMA IF NOT EXISTS "{schema}";'
        f'CREATE TABLE "{schema}".sessions (session_id UUID PRIMARY KEY, '
        "capacity INT NOT NULL, taken INT NOT NULL DEFAULT 0, waiting INT NOT NULL DEFAULT 0);"
        f'CREATE TABLE "{schema}".bookings (booking_id UUID PRIMARY KEY, '
        "session_id UUID NOT NULL, participant_id UUID NOT NULL, waitlist_position INT)"
    )


async def open_session(pool: asyncpg.Pool, schema: str, capacity: int) -> uuid.UUID:
    """A new session with `capacity` seats, none taken."""
    session_id = uuid.uuid4()
    await pool.execute(
        f'INSERT INTO "{schema}".sessions (session_id, capacity) VALUES ($1, $2)',  # noqa: S608 - our own schema name
        session_id,
        capacity,
    )
    return session_id


async def counts(pool: asyncpg.Pool, schema: str, session_id: uuid.UUID) -> tuple[int, int]:
    """(seats taken, places in line) of a session, from the bookings inserted."""
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE waitlist_position IS NULL), "  # noqa: S608 - our own schema name
        f'count(*) FILTER (WHERE waitlist_position IS NOT NULL) FROM "{schema}".bookings '
        "WHERE session_id = $1",
        session_id,
    )
    assert row is not None
    return int(row[0]), int(row[1])


def peer_app(pool: asyncpg.Pool, schema: str) -> FastAPI:
    app = FastAPI()
    take_seat = (
        f'UPDATE "{schema}".sessions SET taken = taken + 1 '  # noqa: S608 - our own schema name
        "WHERE session_id = $1 AND taken < capacity RETURNING taken"
    )
    join_line = (
        f'UPDATE "{schema}".sessions SET waiting = waiting + 1 '  # noqa: S608 - our own schema name
        "WHERE session_id = $1 RETURNING waiting"
    )
    insert = (
        f'INSERT INTO "{schema}".bookings '  # noqa: S608 - our own schema name
        "(booking_id, session_id, participant_id, waitlist_position) VALUES ($1, $2, $3, $4)"
    )

    @app.post("/sessions/{session_id}/bookings", status_code=201)
    async def book(
        session_id: uuid.UUID, body: BookingRequest, response: Response
    ) -> dict[str, Any]:
        booking_id = uuid.uuid4()
        async with pool.acquire() as connection, connection.transaction():
            place = None
            if await connection.fetchval(take_seat, session_id) is None:
                place = await connection.fetchval(join_line, session_id)
                if place is None:
                    raise HTTPException(404, "unknown session")
                response.status_code = 202
            await connection.execute(insert, booking_id, session_id, body.participant_id, place)
        return {"booking_id": str(booking_id), "waitlist_position": place}

    return app
