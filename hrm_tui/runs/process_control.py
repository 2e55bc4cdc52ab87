"""Stopping a run that this app launched, gracefully, and only that run.

A run is found through its `launch.json` (written by runs/launcher.py): the pid and process group
of the launched process, its start time and its command line. Before any signal is sent, the pid is checked
to still be that process (same start time, same command line): pids are reused, and a stale record must
never make us signal an unrelated process.

Stopping follows the trainer's contract (SIGINT or SIGTERM = finish the step, save a checkpoint, write
`run_end` with status `stopped`, exit 0; a second signal exits at once):

1. SIGINT to the trainer processes. For a single process that is the recorded process group. Under
   torchrun, the workers get it directly and torchrun itself is left alone: torchrun would forward the
   signal to its workers, who would then see a *second* signal and exit without their checkpoint. Once the
   workers exit cleanly, torchrun exits on its own.
2. If the run is still alive after `grace_s`, SIGTERM to the whole recorded process group.
3. After `kill_after_s` more, SIGKILL to the group.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from hrm_core.rundir.files import LAUNCH_FILE
from hrm_core.rundir.reader import read_record
from hrm_core.rundir.records import LaunchRecord
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.summary import process_matches

DEFAULT_GRACE_S = 120.0  # a checkpoint of a large model can take a while
DEFAULT_KILL_AFTER_S = 30.0


class StopError(Exception):
    """The run cannot be stopped from here; the message says why."""


@dataclass(frozen=True)
class RunProcess:
    """The verified process of a run: a pid that is, right now, the process that was launched."""

    pid: int
    pgid: int
    create_time: float
    cmdline: tuple[str, ...]

    def alive(self) -> bool:
        return process_matches(self.pid, self.create_time, list(self.cmdline))


def find_run_process(run_dir: str | os.PathLike[str]) -> RunProcess | None:
    """The run's live process, verified by start time and command line; None if it is gone.

    Raises StopError when the run has no launch record (it was not started by this app, so we do not know
    its process group and will not guess).
    """
    record = read_record(Path(run_dir) / LAUNCH_FILE, LaunchRecord).record
    if record is None or record.pid is None:
        raise StopError(f"{safe_text(run_dir)} has no usable launch.json: it was not started by hrm-tui, so it cannot be stopped from here")
    pid, pgid = record.pid, record.pgid or record.pid
    create_time = record.create_time
    cmdline = record.cmdline or record.argv or []
    # Both the start time and the command line must match: a record without either (or with a start time
    # of "nan") names no process we may signal.
    if create_time is None or not cmdline or not process_matches(pid, create_time, list(cmdline)):
        return None
    return RunProcess(pid, pgid, create_time, tuple(cmdline))


def stop_run(
    run_dir: str | os.PathLike[str],
    *,
    grace_s: float = DEFAULT_GRACE_S,
    kill_after_s: float = DEFAULT_KILL_AFTER_S,
    poll_s: float = 0.2,
    on_progress: Callable[[str], None] | None = None,
) -> str:
    """Stops the run gracefully, escalating as described above. Blocks until it is gone; returns what it did.

    Call it from a worker thread, not from the UI thread.
    """
    say = on_progress or (lambda _message: None)
    process = find_run_process(run_dir)
    if process is None:
        return "the run's process is not running"

    targets = _graceful_targets(process)
    say(f"sent SIGINT to {len(targets)} process(es); waiting up to {grace_s:.0f}s for a checkpoint")
    for pid in targets:
        _signal_pid(pid, signal.SIGINT)
    if _wait_gone(process, grace_s, poll_s):
        return "stopped gracefully (SIGINT)"

    if not process.alive():  # re-verified before every signal to the group
        return "stopped gracefully (SIGINT)"
    say(f"still running after {grace_s:.0f}s: sent SIGTERM to process group {process.pgid}")
    _signal_group(process.pgid, signal.SIGTERM)
    if _wait_gone(process, kill_after_s, poll_s):
        return "stopped after SIGTERM"

    if not process.alive():
        return "stopped after SIGTERM"
    say(f"still running: sent SIGKILL to process group {process.pgid}")
    _signal_group(process.pgid, signal.SIGKILL)
    _wait_gone(process, 10.0, poll_s)
    return "killed (SIGKILL)"


def _graceful_targets(process: RunProcess) -> list[int]:
    """The pids that get the first SIGINT: torchrun's workers, or the trainer itself."""
    if not _is_torchrun(process.cmdline):
        return [process.pid]
    try:
        children = psutil.Process(process.pid).children(recursive=False)
    except psutil.Error:
        return [process.pid]
    # Only processes still in the recorded group: a worker that started its own session is not ours to signal.
    workers = [c.pid for c in children if _pgid(c.pid) == process.pgid]
    return workers or [process.pid]


def _is_torchrun(cmdline: tuple[str, ...]) -> bool:
    head = cmdline[:3]
    return any(Path(part).name == "torchrun" for part in head) or "torch.distributed.run" in head


def _wait_gone(process: RunProcess, timeout_s: float, poll_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            _reap(process.pid)
            return True
        time.sleep(poll_s)
    return not process.alive()


def _reap(pid: int) -> None:
    # If this app started the run, it is our child: collect its exit status so it does not stay a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
