"""`bvb consent …`: the consent service's operator commands.

    bvb consent erase-due [--as-of YYYY-MM-DD]

destroys the data of every participant whose destruction date (withdrawal + erasure days) has
come by `--as-of` (default today; never a later day: destruction is not run ahead of its
schedule), prints one JSON line per participant erased and a summary, and exits 0.
"""

import argparse
import asyncio
import getpass
import json
import sys
from datetime import date

from bilet_consent.runtime import open_runtime, utc_now
from bilet_consent.settings import ConsentSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bvb consent", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    erase = commands.add_parser("erase-due", help="destroy the data whose destruction is due")
    erase.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD")
    return parser


async def _erase_due(settings: ConsentSettings, as_of: date | None) -> int:
    async with open_runtime(settings) as runtime:
        if runtime.feed is not None:
            await runtime.feed.catch_up({})
        report = await runtime.service.erase_due(f"cli:{getpass.getuser()}", as_of)
    for outcome in report.erased:
        print(
            json.dumps(
                {
                    "participant_id": str(outcome.participant_id),
                    "destruction_record_id": str(outcome.record_id),
                    "documents_deleted": outcome.documents_deleted,
                    "position": outcome.position,
                }
            )
        )
    print(
        json.dumps(
            {
                "as_of": report.as_of.isoformat(),
                "due": report.due,
                "erased": len(report.erased),
                "already_done": report.skipped,
                "contended": report.contended,
            }
        )
    )
    return 0


def main(argv: list[str], settings: ConsentSettings | None = None) -> int:
    try:
        arguments = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    settings = settings or ConsentSettings()
    if arguments.command == "erase-due":
        if arguments.as_of is not None and arguments.as_of > utc_now().date():
            print("--as-of is after today: destruction is never run ahead", file=sys.stderr)
            return 2
        return asyncio.run(_erase_due(settings, arguments.as_of))
    return 2  # pragma: no cover - argparse refuses other commands
