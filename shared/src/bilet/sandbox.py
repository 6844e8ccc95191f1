"""Run a parser of hostile input in a separate, resource-limited Python process, and fail closed.

`Sandbox.run(module, *args, stdin=...)` starts `python -I -m bilet.sandbox ...` with an empty
environment (no inherited variables: no tokens, keys or database URLs), which applies its limits
to itself (CPU seconds, address space, no file writes, no core dumps) *before* it imports the
target module and reads a byte of the input, then runs the module as `__main__`. The caller
awaits the child (the event loop never blocks on it), kills it at the wall-clock limit, reads at
most `max_output_bytes` of its standard output, and gets a `SandboxFailure` for anything but a
clean exit with code 0 or one of the codes the caller says it expects. A semaphore bounds how
many children run at once, so an upload storm cannot fork-bomb the host, and only so many runs
may wait for one (`SandboxBusy` beyond that).

What it is not (yet): a namespace or seccomp jail. The child runs as the service's user and can
reach the network; the service process is made non-dumpable so such a child cannot read its
/proc entries (environment, memory). A bwrap/nsjail wrapper or a decoder container is the next
step (ADR 0015).

`python -m bilet.sandbox CPU_SECONDS MEMORY_BYTES MODULE [ARGS...]` is the child's entry point.
"""

import asyncio
import contextlib
import ctypes
import os
import resource
import runpy
import signal
import sys
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

_CHUNK: Final = 1 << 16
_REAP_SECONDS: Final = 5.0
_PR_SET_DUMPABLE: Final = 4
# The environment a child gets: enough for the C library and Python, nothing of the parent's.
_ENVIRONMENT: Final = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int = 20
    memory_bytes: int = 1 << 30  # address space (RLIMIT_AS)
    wall_seconds: float = 30.0
    max_output_bytes: int = 64 << 20
    concurrency: int = 2
    # Runs that may wait for a slot; one more is turned away (`SandboxBusy`) rather than held in
    # memory with its input for minutes: an upload storm gets "try later", not an OOM kill.
    max_waiting: int = 8


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int
    output: bytes


class SandboxFailure(Exception):
    """The child crashed, was killed by a limit, ran out of time, said too much, or exited with
    a code nobody expects: whatever it was given is to be refused."""


class SandboxBusy(Exception):
    """Every slot is taken and `max_waiting` runs already wait: the input was not looked at, and
    the caller may try again later."""


class Sandbox:
    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._slots = asyncio.Semaphore(self.limits.concurrency)
        self.running = 0  # children alive now (at most `limits.concurrency`)
        self.waiting = 0  # runs waiting for a slot (at most `limits.max_waiting`)
        _not_dumpable()

    async def run(
        self, module: str, *args: str, stdin: bytes, expected_codes: Collection[int] = (0,)
    ) -> SandboxResult:
        """Run `module` as a sandboxed child fed `stdin`; its exit code and standard output."""
        if self.waiting >= self.limits.max_waiting:
            raise SandboxBusy("too many runs wait for the sandbox")
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            process = await self._start(module, args)
            self.running += 1
            try:
                output = await asyncio.wait_for(
                    self._exchange(process, stdin), self.limits.wall_seconds
                )
            except (TimeoutError, SandboxFailure) as failure:
                raise SandboxFailure(str(failure) or "the sandbox ran out of time") from None
            finally:
                await _reap(process)
                self.running -= 1
        finally:
            self._slots.release()
        exit_code = process.returncode
        assert exit_code is not None
        if exit_code not in expected_codes:
            raise SandboxFailure(f"the sandbox exited with {exit_code}")
        return SandboxResult(exit_code, output)

    async def _start(self, module: str, args: tuple[str, ...]) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",  # isolated: no PYTHON* variables, no user site, no current directory
                "-m",
                __name__,
                str(self.limits.cpu_seconds),
                str(self.limits.memory_bytes),
                module,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=dict(_ENVIRONMENT),
                cwd="/",
                close_fds=True,
                start_new_session=True,  # not in the service's process group: no signals shared
            )
        except OSError as error:  # no process to be had (fork refused, no memory): fail closed
            raise SandboxFailure(f"the sandbox could not start: {error}") from None

    async def _exchange(self, process: asyncio.subprocess.Process, stdin: bytes) -> bytes:
        assert process.stdin is not None
        assert process.stdout is not None
        feeder = asyncio.ensure_future(_feed(process.stdin, stdin))
        received = bytearray()
        try:
            while chunk := await process.stdout.read(_CHUNK):
                received += chunk
                if len(received) > self.limits.max_output_bytes:
                    raise SandboxFailure("the sandbox wrote more than it may")
            await process.wait()
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, BrokenPipeError):
                await feeder
        return bytes(received)


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Kill the child and whatever it started (its own session is its process group), and wait
    for it. Its output is drained to the end first: asyncio reports a child gone only once its
    pipes are closed, and a reader that stopped reading (too much output) would otherwise never
    see the end. The drain and the wait are bounded: a descendant that escaped the group and
    holds the pipe open must not hold a slot for ever."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_drain_and_wait(process), _REAP_SECONDS)


async def _drain_and_wait(process: asyncio.subprocess.Process) -> None:
    if process.stdout is not None:
        with contextlib.suppress(ConnectionError):
            while await process.stdout.read(_CHUNK):
                pass
    await process.wait()


def _not_dumpable() -> None:
    """Make this (the service's) process not dumpable: its /proc entries (environ with the
    master key and database URLs, memory) become readable by root only, so a child that a
    decoder exploit took over, running as the same user, cannot read them. Linux only."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


async def _feed(pipe: asyncio.StreamWriter, data: bytes) -> None:
    """Write the input and close the pipe; a child that stops reading early is its business."""
    with contextlib.suppress(ConnectionError, BrokenPipeError):
        pipe.write(data)
        await pipe.drain()
    pipe.close()


def _enter(cpu_seconds: int, memory_bytes: int) -> None:
    """The child's limits, set on itself before it reads any input (hard limits: for good)."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # writes no file
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> None:
    cpu_seconds, memory_bytes, module, *args = argv
    _enter(int(cpu_seconds), int(memory_bytes))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
