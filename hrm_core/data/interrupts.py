"""Stopping a dataset build cleanly, whoever stops it: Ctrl-C in a terminal, `kill`, or hrm-tui's cancel key.

A builder's command line (`run_builder`) turns SIGINT, SIGTERM and SIGHUP into `BuildInterrupted` (a
KeyboardInterrupt) in its main process, so the DatasetWriter's cleanup runs and no temporary folder is left
behind. The few steps that must not be cut in half (moving the finished folder into place, removing the
temporary one) run under `interrupts_held()`: a signal that arrives meanwhile is dropped, because the
build is then ending anyway, one way or the other.

Worker processes forked by a builder (the Sudoku generator's process pool) inherit the handler; in them
a signal simply ends the process, as it would without the handler, and the main process cleans up.

An exception raised from a signal handler can be lost: when the signal lands while Python runs a callback
whose exceptions it ignores (e.g. the `os.fork` hooks, so while a process pool starts its workers), the
build would go on. So the handler also records the signal, and the builders' long loops call
`raise_if_interrupted()` (through `progress`'s advance and the writer's `add_groups`), which raises it again.
Around a fork the handler only records it (no raise to lose, and no "Exception ignored" on stderr).
Outside `catch_build_signals()` (a build run inside another program, e.g. the trainer building the demo
set), nothing changes: that program's own signal handling applies.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

BUILD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_main_pid: int | None = None  # the process that installed the handler
_held = 0  # depth of interrupts_held() blocks
_pending: int | None = None  # a stop signal received during the build (see raise_if_interrupted)
_forking = 0  # inside os.fork (between its before and after-in-parent hooks)
_fork_hooks_registered = False


class BuildInterrupted(KeyboardInterrupt):
    """A build stopped by a signal; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def catch_build_signals() -> Iterator[None]:
    """Inside the block, BUILD_SIGNALS raise BuildInterrupted in this process (from the main thread); the
    previous handlers come back after it, so a builder's `main()` called from other code changes nothing."""
    global _main_pid, _pending, _fork_hooks_registered
    _main_pid, _pending = os.getpid(), None
    if not _fork_hooks_registered:  # they cannot be unregistered: once per process, and idle outside builds
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork)
        _fork_hooks_registered = True
    previous = {signum: signal.signal(signum, _on_signal) for signum in BUILD_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _pending = None


def end_with_builder(builder_pid: int) -> None:
    """A process-pool initializer: this worker is killed when the builder that forked it ends, however it ends
    (even by SIGKILL, which no cleanup can follow), so no worker outlives a cancelled build. Linux only
    (prctl PR_SET_PDEATHSIG); elsewhere the builder's own cleanup ends its workers."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != builder_pid:  # the builder ended before the line above: nothing would kill us
        os._exit(1)


def raise_if_interrupted() -> None:
    """Raises BuildInterrupted if a stop signal arrived (whether or not its first raise got through)."""
    if _pending is not None and not _held:
        raise BuildInterrupted(_pending)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Runs the block to its end even if a build signal arrives (the signal is then dropped)."""
    global _held
    _held += 1
    try:
        yield
    finally:
        _held -= 1


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending
    if os.getpid() != _main_pid:  # a forked worker: end as if there were no handler
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _held:
        return  # the build is ending anyway (see interrupts_held)
    _pending = signum
    if _forking:
        return  # raised from here it would be lost: the next raise_if_interrupted() raises it
    raise BuildInterrupted(signum)


def _before_fork() -> None:
    global _forking
    _forking += 1


def _after_fork() -> None:
    global _forking
    _forking -= 1
