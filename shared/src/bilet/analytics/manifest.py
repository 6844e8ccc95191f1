"""The export directory's record of itself (`manifest.json`), and writing files durably.

The manifest says for which purpose and from which source the directory was exported, from and
up to which positions (per lane: a store's service or a topic's partition), which runs wrote
which files, how many rows each table holds, and how many participants and events were left out
(counted, never listed). The next run starts at its `cursor`.

A run's files are complete and on disk (written under a temporary name, flushed, renamed, the
directory flushed) before the manifest that lists them is replaced the same way, so the manifest
never names a file that is not whole. Files no manifest lists are what an interrupted run left:
the next run removes them and reads those events again.
"""

import contextlib
import os
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST: Final = "manifest.json"
TABLES: Final = "tables"
DIMENSION: Final = "participants.parquet"
DATABASE: Final = "analytics.duckdb"


class ManifestError(Exception):
    """The directory holds another export (another purpose or source), or a damaged manifest."""


class RunRecord(BaseModel):
    """One run: when, from where to where, what it wrote and what it left out."""

    model_config = ConfigDict(extra="forbid")

    run: str
    started_at: datetime
    committed_at: datetime
    started_from: dict[str, int] = Field(description="Cursor per lane when the run began.")
    reached: dict[str, int] = Field(description="Cursor per lane when the run committed.")
    rows: dict[str, int] = Field(default_factory=dict, description="Rows written, by table.")
    excluded_events: dict[str, int] = Field(
        default_factory=dict, description="Events of participants outside the population."
    )
    backfilled_participants: int = 0
    removed_participants: int = 0
    removed_rows: int = 0
    files: list[str] = Field(default_factory=list)


class Manifest(BaseModel):
    """What the directory holds (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    purpose: str
    source: str
    since: datetime | None = None
    created_at: datetime
    updated_at: datetime
    cursor: dict[str, int] = Field(default_factory=dict)
    tables: dict[str, int] = Field(default_factory=dict, description="Rows per table now.")
    participants: int = Field(0, description="Participants in the export now.")
    population: list[str] = Field(
        default_factory=list,
        description="Their pseudonyms (as in the tables): who the next run compares with.",
    )
    excluded_participants: int = Field(
        0, description="Participants the history names who are not in the export (counted only)."
    )
    runs: list[RunRecord] = Field(default_factory=list)

    def files(self) -> set[str]:
        return {name for run in self.runs for name in run.files}


def load_manifest(out: Path) -> Manifest | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValueError as error:
        raise ManifestError(f"{path} is not a manifest of an export: {error}") from None


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def durable_replace(temporary: Path, final: Path) -> None:
    """Flush `temporary`, rename it to `final`, flush the directory: after a crash the file is
    either the old one or the new one, whole."""
    with temporary.open("rb+") as handle:
        os.fsync(handle.fileno())
    temporary.replace(final)
    fsync_directory(final.parent)


def write_manifest(out: Path, manifest: Manifest) -> None:
    temporary = out / f".{MANIFEST}.tmp"
    temporary.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    durable_replace(temporary, out / MANIFEST)


def remove_leftovers(out: Path, manifest: Manifest | None) -> list[str]:
    """Delete the Parquet files and temporary files an interrupted run left behind."""
    listed = manifest.files() if manifest else set()
    removed: list[str] = []
    tables = out / TABLES
    if tables.exists():
        for path in sorted(tables.rglob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(out).as_posix()
            if name not in listed:
                path.unlink()
                removed.append(name)
    for temporary in out.glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return removed
