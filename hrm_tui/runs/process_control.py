"""Stopping a run gracefully, and only that run: launched by this app or started by hand, alone or under torchrun.

Finding the run's processes (`find_run_processes`), before anything is asked or sent:

- **Launched by hrm-tui**: `launch.json` (runs/launcher.py) records the pid and process group of the launched
  process (the trainer, or torchrun), its start time and its command line.
- **Started by hand** (no `launch.json`): the newest `run_start`/`resume` records rank 0's host, pid, process
  start time (`create_time`) and command line (`argv`); while a trainer is still setting up (no start event
  yet), the owner lock it holds records the same but the start time (the process must have started before
  it took the lock). Where the process is a torchrun worker, its parent is torchrun: that is the run's root
  process.

Every pid is checked to still be that process before each signal: same start time (within a second, as
psutil reports it) and a command line that runs this trainer with the recorded arguments (which name the
run: its overrides, `checkpoint_path` among them when it was given). Pids are reused, and a stale record must
never make us signal an unrelated process. Where the check cannot be made (another host, no start time in an
older log, a command line that differs) the run is not stopped, and `StopError` says why, so the app can say
it *before* asking for a confirmation.

**torchrun** starts each worker in a session of its own (torch.distributed.elastic: `start_new_session=True`),
so a signal to torchrun's process group never reaches the workers. The workers are therefore found among
torchrun's children (the program torchrun runs, with its arguments) and signalled themselves.

Stopping follows the trainer's contract (SIGINT or SIGTERM = finish the step, save a checkpoint, write
`run_end` with status `stopped`, exit 0; a second signal exits at once):

1. SIGINT to the trainer processes: each torchrun worker (torchrun itself is left alone: it would forward
   the signal, and each worker would see a *second* one and exit without its checkpoint; once the workers
   exit cleanly torchrun exits on its own), or the single trainer.
2. If any is still alive after `grace_s`: SIGTERM to each worker's own process group, and to the root
   (its recorded process group when this app launched it, else the process alone: a hand-started run shares
   its group with the user's shell pipeline).
3. After `kill_after_s` more: SIGKILL to the same.

`stop_run` returns only when every process is gone, or says which are left.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from hrm_core.rundir.events import START_TYPES
from hrm_core.rundir.files import LAUNCH_FILE
from hrm_core.rundir.lock import LockState, lock_state, read_owner
from hrm_core.rundir.reader import read_head_and_tail, read_record
from hrm_core.rundir.records import LaunchRecord
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.summary import process_matches
from hrm_tui.launch_plan import TRAINER_MODULE

DEFAULT_GRACE_S = 120.0  # a checkpoint of a large model can take a while
DEFAULT_KILL_AFTER_S = 30.0


class StopError(Exception):
    """The run cannot be stopped from here; the message says why (and what the user can do instead)."""


@dataclass(frozen=True)
class RunProcess:
    """A verified process of a run: a pid that is, right now, the process that was recorded."""

    pid: int
    pgid: int | None  # the process group to signal on escalation (None: the process alone)
    create_time: float
    cmdline: tuple[str, ...]

    def alive(self) -> bool:
        return process_matches(self.pid, self.create_time, list(self.cmdline))


@dataclass(frozen=True)
class RunProcesses:
    """The processes of a run: the root (the trainer, or torchrun) and, under torchrun, its workers."""

    root: RunProcess
    torchrun: bool
    launched: bool  # started by hrm-tui (launch.json), else by hand (the start event)

    def workers(self) -> list[RunProcess]:
        """torchrun's workers as they are now (each verified as it is found); [] for a single trainer."""
        if not self.torchrun or not self.root.alive():
            return []
        try:
            children = psutil.Process(self.root.pid).children(recursive=False)
        except psutil.Error:
            return []
        found = []
        for child in children:
            try:
                cmdline, create_time = tuple(child.cmdline()), child.create_time()
                # Its own session (torchrun's start_new_session), else the group it shares with torchrun.
                pgid = child.pid if os.getpgid(child.pid) == child.pid else None
            except (psutil.Error, OSError):
                continue
            if _runs_program_of(cmdline, self.root.cmdline):
                found.append(RunProcess(child.pid, pgid, create_time, cmdline))
        return found

    def alive(self) -> list[RunProcess]:
        return [p for p in (self.root, *self.workers()) if p.alive()]

    def describe(self) -> str:
        """`torchrun and its 2 workers on this host, started by hand`, for the confirmation."""
        if self.torchrun:
            workers = len(self.workers())
            what = f"torchrun and its {workers} worker{'s' if workers != 1 else ''} on this host"
        else:
            what = "the trainer"
        return f"{what}, {'launched by hrm-tui' if self.launched else 'started by hand'}"


def find_run_processes(run_dir: str | os.PathLike[str]) -> RunProcesses | None:
    """The run's live processes, verified; None when they are gone. Raises StopError, saying why, when the
    run's processes cannot be identified from here (another host, nothing recorded, an identity unsure)."""
    run_dir = Path(run_dir)
    launch = read_record(run_dir / LAUNCH_FILE, LaunchRecord).record
    if launch is not None and launch.pid is not None:
        root = _launched_process(launch)
        return None if root is None else RunProcesses(root, _is_torchrun(root.cmdline), launched=True)
    return _hand_started_processes(run_dir)


def find_run_process(run_dir: str | os.PathLike[str]) -> RunProcess | None:
    """The run's root process (the trainer, or torchrun), verified; None if it is gone. See find_run_processes."""
    processes = find_run_processes(run_dir)
    return processes.root if processes is not None else None


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
    processes = find_run_processes(run_dir)
    if processes is None:
        return "the run's process is not running"

    # The processes as they are now: a worker that exits is not replaced (torchrun restarts nothing by default),
    # and each one is re-verified before every signal.
    everyone = [processes.root, *processes.workers()]
    targets = everyone[1:] or [processes.root]
    say(f"sent SIGINT to {len(targets)} process(es); waiting up to {grace_s:.0f}s for a checkpoint")
    for process in targets:
        _signal(process, signal.SIGINT, group=False)
    if _wait_gone(everyone, grace_s, poll_s):
        return "stopped gracefully (SIGINT)"

    outcome = "stopped gracefully (SIGINT)"
    for sig, wait_s, then in ((signal.SIGTERM, kill_after_s, "stopped after SIGTERM"),
                              (signal.SIGKILL, 10.0, "killed (SIGKILL)")):
        left = [p for p in everyone if p.alive()]
        if not left:
            return outcome
        say(f"still running ({_pids(left)}): sent {sig.name}")
        for process in sorted(left, key=lambda p: p is processes.root):  # the workers first
            _signal(process, sig, group=process is not processes.root or processes.launched)
        outcome = then
        if _wait_gone(everyone, wait_s, poll_s):
            return outcome
    left = [p for p in everyone if p.alive()]
    return f"still running after SIGKILL: {_pids(left)}" if left else outcome


# --- finding the processes -------------------------------------------------------------------------------------


def _launched_process(record: LaunchRecord) -> RunProcess | None:
    host = socket.gethostname()
    if record.host is not None and record.host != host:
        raise StopError(safe_text(f"it was launched on {record.host}, not on this host ({host}): stop it there"))
    pid, pgid = record.pid, record.pgid or record.pid
    cmdline = record.cmdline or record.argv or []
    # Both the start time and the command line must match: a record without either (or with a start time
    # of "nan") names no process we may signal.
    if pid is None or record.create_time is None or not cmdline or not process_matches(pid, record.create_time, list(cmdline)):
        return None
    return RunProcess(pid, pgid, record.create_time, tuple(cmdline))


@dataclass(frozen=True)
class _Recorded:
    """What a run recorded about rank 0's process: from its start event, or (still setting up, no start event
    yet) from the owner lock it holds."""

    host: str | None
    pid: int
    argv: list[str]
    create_time: float | None  # the process's start time (start events of this version)
    started_by: float | None  # else: a time it must have started before (when it took the lock)


def _hand_started_processes(run_dir: Path) -> RunProcesses | None:
    """A run without launch.json: rank 0's process (`_recorded_rank0`), and torchrun above it."""
    recorded = _recorded_rank0(run_dir)
    host = socket.gethostname()
    if recorded.host != host:
        where = safe_text(recorded.host) if recorded.host else "an unknown host"
        raise StopError(f"it runs on {where}, not on this host ({host}): stop it there (kill -INT {recorded.pid})")
    pid = recorded.pid
    if recorded.create_time is None and recorded.started_by is None:
        raise StopError(f"its start event records pid {pid} but not the process's start time (a trainer older "
                        f"than this hrm-tui), so pid {pid} cannot be told from a process that reused it: stop it "
                        f"with kill -INT {pid} after checking it is the trainer (ps -fp {pid})")
    try:
        proc = psutil.Process(pid)
        cmdline, create_time = tuple(proc.cmdline()), proc.create_time()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None  # gone
    if recorded.create_time is not None and abs(create_time - recorded.create_time) > 1.0:
        return None  # gone, and the pid reused
    if recorded.started_by is not None and create_time > recorded.started_by + 1.0:
        return None  # a process that started after the lock was taken cannot be the one that took it
    if not _runs_trainer_with(cmdline, recorded.argv):
        raise StopError(safe_text(f"pid {pid} started when the run did, but its command line ({' '.join(cmdline)}) "
                                  "is not the one the run recorded: not stopping a process that may not be the run"))
    parent = _torchrun_parent(proc)
    if parent is not None:
        return RunProcesses(parent, torchrun=True, launched=False)
    return RunProcesses(RunProcess(pid, None, create_time, cmdline), torchrun=False, launched=False)


def _recorded_rank0(run_dir: Path) -> _Recorded:
    """Rank 0's process as the run recorded it: the newest start event; before there is one (the trainer is
    still setting up: loading data, compiling), the owner lock's record while the lock is held."""
    start = next((e for e in reversed(read_head_and_tail(run_dir).newest) if isinstance(e, START_TYPES)), None)
    owner = read_owner(run_dir) if lock_state(run_dir) is LockState.HELD else None
    newer_owner = owner is not None and owner.pid is not None and owner.start_time is not None and (
        start is None or start.time is None or owner.start_time > start.time)
    if newer_owner:  # a session that has not logged its start yet (or a resume being set up)
        return _Recorded(owner.host, owner.pid, owner.argv or [], None, owner.start_time)
    if start is None or start.pid is None:
        raise StopError(safe_text(f"{run_dir} has no launch.json and its events.jsonl records no trainer process (no "
                                  "run_start with a pid), and no live trainer holds its lock: it cannot be stopped from here"))
    return _Recorded(start.host, start.pid, start.argv or [], start.create_time, None)


def _torchrun_parent(proc: psutil.Process) -> RunProcess | None:
    """The torchrun that runs this worker, if it is one."""
    try:
        parent = proc.parent()
        if parent is None:
            return None
        cmdline = tuple(parent.cmdline())
        if not _is_torchrun(cmdline) or not _runs_program_of(tuple(proc.cmdline()), cmdline):
            return None
        return RunProcess(parent.pid, None, parent.create_time(), cmdline)
    except psutil.Error:
        return None


def _runs_trainer_with(cmdline: tuple[str, ...], argv: list[str]) -> bool:
    """Whether a command line runs the trainer with the arguments the run recorded (`argv` is the trainer's
    `[python, -m, hrm_core.pretrain, *arguments]`; under torchrun a worker is `python -u -m hrm_core.pretrain
    *arguments`)."""
    if len(argv) < 3 or argv[1:3] != ["-m", TRAINER_MODULE]:
        return False
    arguments = argv[3:]
    head = list(cmdline[: len(cmdline) - len(arguments)])
    if list(cmdline[len(head):]) != arguments or len(head) < 2:
        return False
    # `python -m hrm_core.pretrain` (what the trainer records), or the same file run as a script.
    return head[-2:] == ["-m", TRAINER_MODULE] or Path(head[-1]).name == "pretrain.py"


def _runs_program_of(worker: tuple[str, ...], torchrun: tuple[str, ...]) -> bool:
    """Whether `worker` runs the program (and arguments) that `torchrun` was given: the worker is its
    interpreter and interpreter flags (`python -u`), then a tail of torchrun's own command line."""
    rest = list(worker[1:])
    while rest and rest[0].startswith("-") and rest[0] != "-m":
        rest.pop(0)
    return bool(rest) and len(rest) < len(torchrun) and list(torchrun[-len(rest):]) == rest


def _is_torchrun(cmdline: tuple[str, ...]) -> bool:
    head = cmdline[:3]
    return any(Path(part).name == "torchrun" for part in head) or "torch.distributed.run" in head


# --- signals ---------------------------------------------------------------------------------------------------


def _wait_gone(processes: list[RunProcess], timeout_s: float, poll_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        left = [p for p in processes if p.alive()]
        for process in processes:
            if process not in left:
                _reap(process.pid)
        if not left:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def _reap(pid: int) -> None:
    # If this app started the run, it is our child: collect its exit status so it does not stay a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _signal(process: RunProcess, sig: signal.Signals, *, group: bool) -> None:
    """Sends `sig` to the process (re-verified first), or to its process group when `group` and it has one."""
    if not process.alive():
        return
    try:
        if group and process.pgid is not None:
            os.killpg(process.pgid, sig)
        else:
            os.kill(process.pid, sig)
    except ProcessLookupError:
        pass


def _pids(processes: list[RunProcess]) -> str:
    return "pid " + ", ".join(str(p.pid) for p in processes)
