"""`bvb audit who-read`: every personal read by an account, or of a child, from the audit trails.

    bvb audit who-read --actor ACCOUNT   [--since 24h] [--until WHEN] [--access read] [--json]
    bvb audit who-read --subject PUPIL   [--since 7d]  ...

Opens the store of every service that audits (identity, consent, events, portfolio) from the
settings the services themselves use (`BVB_*`: the SQLite files under var/, or their PostgreSQL
schemas), only reads them, and prints a table or JSON lines, oldest first, then a count. The
trail holds ids only, so nothing printed is personal data. WHEN is a duration back from now
(`90m`, `24h`, `7d`, `2w`) or an ISO date or time (`2026-12-05`, `2026-12-05T10:00+03:00`; UTC
when no offset).
"""

import argparse
import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from pydantic import ValidationError

from bilet.audit import Access
from bilet.audit_query import AuditEntry, AuditQuery, who_read
from bilet.eventstore import EventStore
from bilet.settings import PlatformSettings
from bilet.stores import StoreSettingsError
from bilet_consent.adapters.stores import open_event_store as open_consent_store
from bilet_consent.settings import ConsentSettings
from bilet_events.adapters.stores import open_event_store as open_events_store
from bilet_events.settings import EventsSettings
from bilet_identity.adapters.stores import open_event_store as open_identity_store
from bilet_identity.settings import IdentitySettings
from bilet_portfolio.adapters.stores import open_audit_store as open_portfolio_store
from bilet_portfolio.settings import PortfolioSettings

PROG: Final = "bvb audit who-read"
DURATION: Final = re.compile(r"(\d+)\s*([mhdw])")
UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
COLUMNS: Final = (
    "at",
    "service",
    "actor",
    "actor_role",
    "access",
    "subject",
    "purpose",
    "fields",
    "correlation_id",
)


def moment(text: str) -> datetime:
    """`24h` → 24 hours ago; `2026-12-05` → that day's start (UTC); an ISO time as given."""
    text = text.strip()
    duration = DURATION.fullmatch(text)
    if duration:
        amount, unit = int(duration[1]), duration[2]
        if amount == 0:
            raise argparse.ArgumentTypeError(f"{text!r}: a duration must be more than zero")
        return datetime.now(UTC) - timedelta(**{UNITS[unit]: amount})
    try:
        if len(text) == len("YYYY-MM-DD"):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a duration (90m, 24h, 7d, 2w) or an ISO date or time"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def add_commands(audit: argparse.ArgumentParser) -> None:
    """`bvb audit …`'s commands, on the host's parser."""
    commands = audit.add_subparsers(dest="audit_command", required=True)
    parser = commands.add_parser(
        "who-read",
        help="every personal read by an account or of a child, from the audit trails",
        description=__doc__.split("\n\n")[0],
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--actor", help="the account id (a token's `sub`)")
    who.add_argument("--subject", help="the participant id of the child")
    parser.add_argument("--since", type=moment, default="24h", help="from when (default 24h)")
    parser.add_argument("--until", type=moment, help="until when (default now)")
    parser.add_argument(
        "--access",
        action="append",
        choices=[access.value for access in Access],
        help="which kinds of access (repeatable; default read)",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    parser.set_defaults(handler=who_read_command)


class StoreUnreachable(Exception):
    """An auditing service's store is configured but cannot be reached."""


@dataclass(frozen=True)
class Trail:
    """One auditing service's store, as its own settings open it."""

    service: str
    settings: PlatformSettings
    open: Callable[[], Awaitable[EventStore]]

    def absent(self) -> bool:
        # An embedded service that never ran has no file: there is nothing to read, and the
        # query must not leave an empty store behind.
        return (
            self.settings.event_store == "sqlite"
            and not self.settings.sqlite_path(self.service).exists()
        )


def auditing_trails() -> list[Trail]:
    identity, consent, portfolio = IdentitySettings(), ConsentSettings(), PortfolioSettings()
    events = EventsSettings()  # rosters, and the needs a booking opens (issue #14)
    return [
        Trail("identity", identity, lambda: open_identity_store(identity)),
        Trail("consent", consent, lambda: open_consent_store(consent)),
        Trail("events", events, lambda: open_events_store(events)),
        Trail("portfolio", portfolio, lambda: open_portfolio_store(portfolio)),
    ]


def who_read_command(args: argparse.Namespace) -> int:
    if args.until is not None and args.until <= args.since:
        print(f"{PROG}: --until must be after --since", file=sys.stderr)
        return 2
    query = AuditQuery(
        since=args.since,
        until=args.until,
        actor=args.actor,
        subject=args.subject,
        accesses=frozenset(Access(access) for access in args.access or [Access.READ]),
    )
    try:
        trails = auditing_trails()
        entries, read = asyncio.run(_query(trails, query))
    except (ValidationError, StoreSettingsError) as error:
        print(f"{PROG}: the BVB_* settings are not usable: {error}", file=sys.stderr)
        return 2
    except StoreUnreachable as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    for service in sorted({trail.service for trail in trails} - set(read)):
        print(f"{PROG}: no audit trail of {service} here (never ran)", file=sys.stderr)
    print_entries(entries, query, read, as_json=args.json)
    return 0


async def _query(trails: Sequence[Trail], query: AuditQuery) -> tuple[list[AuditEntry], list[str]]:
    async with contextlib.AsyncExitStack() as stack:
        stores: dict[str, EventStore] = {}
        for trail in trails:
            if trail.absent():
                continue
            try:
                store = await trail.open()
            except OSError as error:
                raise StoreUnreachable(
                    f"cannot open the store of {trail.service}: {error}"
                ) from error
            stack.push_async_callback(store.close)
            stores[trail.service] = store
        return await who_read(stores, query), list(stores)


def _row(entry: AuditEntry) -> dict[str, str | list[str] | None]:
    record = entry.record
    return {
        "at": record.at.astimezone(UTC).isoformat(),
        "service": entry.service,
        "actor": record.actor,
        "actor_role": record.actor_role,
        "access": record.access.value,
        "subject": record.subject,
        "purpose": record.purpose,
        "fields": list(record.fields),
        "correlation_id": record.correlation_id,
    }


def print_entries(
    entries: Sequence[AuditEntry], query: AuditQuery, services: Sequence[str], *, as_json: bool
) -> None:
    rows = [_row(entry) for entry in entries]
    summary = {
        "count": len(rows),
        "actor": query.actor,
        "subject": query.subject,
        "access": sorted(access.value for access in query.accesses),
        "since": query.since.astimezone(UTC).isoformat(),
        "until": None if query.until is None else query.until.astimezone(UTC).isoformat(),
        "services": list(services),
    }
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        print(json.dumps(summary, ensure_ascii=False))
        return
    cells = [[_cell(row[column]) for column in COLUMNS] for row in rows]
    widths = [
        max([len(column), *(len(line[n]) for line in cells)]) for n, column in enumerate(COLUMNS)
    ]
    for line in [list(COLUMNS), *cells]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    who = f"account {query.actor}" if query.actor else f"participant {query.subject}"
    until = summary["until"] or "now"
    print(f"{len(rows)} record(s) of {who} from {summary['since']} to {until}")


def _cell(value: str | list[str] | None) -> str:
    if value is None:
        return "-"
    return ",".join(value) if isinstance(value, list) else value
