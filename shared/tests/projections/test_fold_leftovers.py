"""A folded rebuild's private directory (ADR 0076) does not outlive its process for long: one
killed hard (SIGKILL: no `finally` runs) is removed by the next fold made under the same parent,
while the folds of live processes, this one's included, are left alone (ADR 0083)."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bilet.projections.folded import fold_database, remove_dead_folds

# A process that makes a fold, says where, and keeps it until its stdin closes.
HOLDER = """
import asyncio, sys
from pathlib import Path
from bilet.projections.folded import fold_database

async def main() -> None:
    async with fold_database(4, parent=Path(sys.argv[1])) as fold:
        print(fold.path.parent, flush=True)
        await asyncio.to_thread(sys.stdin.readline)

asyncio.run(main())
"""


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def hold_a_fold(parent: Path, holders: list[subprocess.Popen[str]]) -> tuple[Path, int]:
    process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", HOLDER, str(parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    holders.append(process)
    assert process.stdout is not None
    directory = Path(process.stdout.readline().strip())  # blocks until the fold is made
    assert directory.is_dir()
    return directory, len(holders) - 1


async def test_a_killed_processs_fold_is_removed_by_the_next_and_live_ones_are_kept(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    parent = tmp_path / "folds"
    killed, first = hold_a_fold(parent, holders)
    alive, second = hold_a_fold(parent, holders)
    holders[first].send_signal(signal.SIGKILL)
    holders[first].wait()
    assert killed.is_dir()  # nothing of the killed process removed it

    async with fold_database(4, parent=parent) as fold:
        ours = fold.path.parent
        assert not killed.exists()
        assert alive.is_dir()
        # A second fold of this same process sees the first one alive, too.
        async with fold_database(4, parent=parent) as other:
            assert ours.is_dir()
            assert other.path.parent != ours
        assert ours.is_dir()
    assert not ours.exists()

    stdin = holders[second].stdin
    assert stdin is not None
    stdin.close()  # it ends normally and removes its own fold
    assert holders[second].wait() == 0
    assert not alive.exists()
    assert sorted(p.name for p in parent.iterdir()) == [".lock"]


def test_a_fold_directory_without_its_lock_is_a_dead_ones_and_others_are_no_folds(
    tmp_path: Path,
) -> None:
    parent = tmp_path / "folds"
    parent.mkdir(mode=0o700)
    unlocked = parent / "fold-1-x"  # its process died before it took the lock
    unlocked.mkdir()
    (unlocked / "fold.sqlite3").write_bytes(b"leftover")
    other = parent / "not-a-fold"
    other.mkdir()
    stray = parent / "fold-2-file"  # named like a fold, but no directory: left, no failure
    stray.write_bytes(b"")
    assert remove_dead_folds(parent) == [unlocked]
    assert other.is_dir()
    assert stray.is_file()


async def test_a_parent_that_is_not_a_private_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # noqa: S103 - the case refused
    with pytest.raises(PermissionError):
        async with fold_database(4, parent=shared):
            pass
    link = tmp_path / "link"
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link.symlink_to(private)
    with pytest.raises(PermissionError):
        async with fold_database(4, parent=link):
            pass
    assert list(private.iterdir()) == []
