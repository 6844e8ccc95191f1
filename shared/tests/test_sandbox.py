"""The sandbox for parsers of hostile input: its child gets none of the service's environment and
its limits, and every way a child can go wrong (crash, CPU, memory, time, too much output, an
exit code nobody expects) is a `SandboxFailure`, never a hang or a result."""

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from bilet.sandbox import Sandbox, SandboxBusy, SandboxFailure, SandboxLimits

# The standard library's `timeit` runs a statement once: a child that runs the code of a test.
STATEMENT = ("timeit", "-n", "1", "-r", "1")


async def _run(code: str, limits: SandboxLimits | None = None, **kwargs: object) -> bytes:
    result = await Sandbox(limits).run(*STATEMENT, code, stdin=b"", **kwargs)  # type: ignore[arg-type]
    return result.output


async def test_the_child_inherits_no_environment_and_runs_under_its_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BVB_DATABASE_URL", "postgresql://secret@db/bilet")
    limits = SandboxLimits(cpu_seconds=7, memory_bytes=700 << 20)
    output = await _run(
        "import os, resource, sys; sys.stdout.write(repr(sorted(os.environ)) + '|' + "
        "repr([resource.getrlimit(resource.RLIMIT_CPU), resource.getrlimit(resource.RLIMIT_AS),"
        " resource.getrlimit(resource.RLIMIT_FSIZE)]) + '|')",
        limits,
    )
    environment, rlimits, _ = output.decode().split("|")
    assert "BVB_DATABASE_URL" not in environment
    assert "secret" not in output.decode()
    assert rlimits == repr([(7, 7), (700 << 20, 700 << 20), (0, 0)])


async def test_the_child_reads_its_input_and_may_answer_with_an_expected_code() -> None:
    # os._exit: `timeit` would catch a SystemExit
    code = "import os, sys; sys.stdout.write(sys.stdin.read().upper()); sys.stdout.flush(); "
    code += "os._exit(3)"
    result = await Sandbox().run(*STATEMENT, code, stdin=b"abc", expected_codes=(0, 3))
    assert result.exit_code == 3
    assert result.output == b"ABC"
    with pytest.raises(SandboxFailure):
        await Sandbox().run(*STATEMENT, code, stdin=b"abc")  # 3 is not expected here


@pytest.mark.parametrize(
    ("code", "limits"),
    [
        ("import os; os.abort()", SandboxLimits()),  # a crash (a signal)
        ("raise SystemExit(1)", SandboxLimits()),
        ("while True: pass", SandboxLimits(cpu_seconds=1, wall_seconds=60)),
        ("b = bytearray(900 << 20)", SandboxLimits(memory_bytes=400 << 20)),
        ("import time; time.sleep(60)", SandboxLimits(wall_seconds=1)),
        ("import sys; sys.stdout.write('x' * (3 << 20))", SandboxLimits(max_output_bytes=1 << 20)),
    ],
)
async def test_every_way_a_child_goes_wrong_is_a_failure(code: str, limits: SandboxLimits) -> None:
    with pytest.raises(SandboxFailure):
        await asyncio.wait_for(_run(code, limits), 60)


async def test_the_child_writes_no_file(tmp_path: Path) -> None:
    target = tmp_path / "written"
    with pytest.raises(SandboxFailure):
        await _run(f"f = open({str(target)!r}, 'w'); f.write('x' * 4096); f.close()")
    assert not target.exists() or target.stat().st_size == 0


async def test_no_more_children_run_at_once_than_the_limit() -> None:
    sandbox = Sandbox(SandboxLimits(concurrency=1))
    children = asyncio.gather(
        *[sandbox.run(*STATEMENT, "import time; time.sleep(0.2)", stdin=b"") for _ in range(3)]
    )
    most = 0
    while not children.done():
        most = max(most, sandbox.running)
        await asyncio.sleep(0.01)
    await children
    assert most == 1


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("it never happened")


async def test_runs_beyond_the_waiting_room_are_turned_away_not_queued() -> None:
    sandbox = Sandbox(SandboxLimits(concurrency=1, max_waiting=1, wall_seconds=30))
    sleep = (*STATEMENT, "import time; time.sleep(30)")
    slow = asyncio.ensure_future(sandbox.run(*sleep, stdin=b""))
    await _until(lambda: sandbox.running == 1)
    waiting = asyncio.ensure_future(sandbox.run(*sleep, stdin=b""))
    await _until(lambda: sandbox.waiting == 1)
    with pytest.raises(SandboxBusy):
        await sandbox.run(*sleep, stdin=b"")
    for run in (slow, waiting):
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError, SandboxFailure):
            await run
    assert (sandbox.running, sandbox.waiting) == (0, 0)


async def test_a_grandchild_holding_the_output_open_does_not_hold_the_slot() -> None:
    # The child forks; both sleep with standard output open. Killing the child alone would leave
    # the pipe open and the slot taken for ever: the whole process group goes.
    code = "import os, time; os.fork(); time.sleep(60)"
    sandbox = Sandbox(SandboxLimits(wall_seconds=1, concurrency=1))
    with pytest.raises(SandboxFailure):
        await asyncio.wait_for(sandbox.run(*STATEMENT, code, stdin=b""), 20)
    assert sandbox.running == 0
