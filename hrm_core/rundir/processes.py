"""Which process is a run's trainer: one rule, for the list of runs (summary.py: alive or not) and for Stop
(hrm_tui.runs.process_control: which pid to signal).

    trainer = find_trainer(run_dir)        # TrainerProcesses
    trainer.alive                          # True, False, or None when it cannot be told from here
    trainer.process                        # the verified process on this host (pid, start time, command line)
    trainer.source, trainer.reason         # what the answer comes from, and why there is no process

Where the answer comes from (`TrainerSource`), in this order:

1. `launch.json`: a launcher (hrm-tui) recorded the process it started (torchrun or the trainer): pid,
   process start time and command line. Only when that process is gone and the owner lock is held (a run
   resumed by hand since) do the next sources count.
2. the owner lock's record (lock.py), while the lock is held and the record is newer than the newest start
   event: a trainer still setting up (loading data, compiling) that has not logged its start yet.
3. the newest `run_start`/`resume` event: rank 0's host, pid, process start time and command line.

A recorded pid is the trainer only when, on this host, that pid is alive (not a zombie) and:

- it started when the record says: within a second of the recorded process start time; where none was
  recorded (the owner lock's record), before the record was written. A start event without one (a trainer
  older than this version) cannot tell its trainer from a process that reused the pid, unless that process
  started after the event (then it is certainly not the trainer);
- its command line is the recorded one (`launch.json`), or runs the trainer with the recorded arguments.

A held lock is the last word on "alive": a live process holds the directory, even where it cannot be
identified from here (another host that shares the file system); a free lock whose last owner ran on this
host says its trainer is gone. `alive` is None only where nothing decides (another host without a shared
lock, an older log, a command line that differs): the list then judges by the event log's age, and Stop
says `reason`.

A run submitted to SLURM (`slurm.json`) is not judged here: its trainer runs on a compute node, so the
scheduler's state and the heartbeat decide (summary.py, `_judge_slurm_run`), and Stop goes through scancel
(hrm_tui.runs.process_control).
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import psutil

from hrm_core.rundir.events import START_TYPES, Event
from hrm_core.rundir.files import LAUNCH_FILE
from hrm_core.rundir.lock import LockState, lock_state, read_owner
from hrm_core.rundir.reader import HeadAndTail, read_head_and_tail, read_record
from hrm_core.rundir.records import LaunchRecord, OwnerRecord
from hrm_core.rundir.sanitize import safe_text

TRAINER_MODULE = "hrm_core.pretrain"  # what `python -m` runs: the trainer's command lines name it
START_TIME_TOLERANCE_S = 1.0  # psutil's process start time is rounded; a record's may be too


class TrainerSource(str, Enum):
    """Where `find_trainer`'s answer comes from."""

    LAUNCH_RECORD = "launch.json"
    OWNER_LOCK = "owner lock"
    START_EVENT = "start event"
    NOTHING = "nothing recorded"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TrainerProcess:
    """A verified process: a pid that is, right now, the process that was recorded."""

    pid: int
    pgid: int | None  # its recorded process group (launch.json), else None: the process alone
    create_time: float
    cmdline: tuple[str, ...]

    def alive(self) -> bool:
        return process_matches(self.pid, self.create_time, list(self.cmdline))


@dataclass(frozen=True)
class TrainerProcesses:
    """`find_trainer`'s answer: whether the run's trainer is alive, the process when it is found on this
    host, what the answer comes from, and why there is no process (sanitised: safe to show)."""

    alive: bool | None  # None: cannot be told from here
    source: TrainerSource
    process: TrainerProcess | None = None
    reason: str = ""


def find_trainer(run_dir: str | os.PathLike[str]) -> TrainerProcesses:
    """Which process is the run's trainer, and whether it is alive (see the module docstring). Never raises."""
    run_dir = Path(run_dir)
    launch = read_record(run_dir / LAUNCH_FILE, LaunchRecord).record
    return judge_trainer(run_dir, launch=launch, start=newest_start(read_head_and_tail(run_dir)), lock=lock_state(run_dir))


def newest_start(log: HeadAndTail) -> Event | None:
    """The newest `run_start`/`resume` among the events read (the tail's, else the head's)."""
    for events in (log.tail, log.head):
        start = next((e for e in reversed(events) if isinstance(e, START_TYPES)), None)
        if start is not None:
            return start
    return None


def judge_trainer(run_dir: Path, *, launch: LaunchRecord | None, start: Event | None, lock: LockState) -> TrainerProcesses:
    """`find_trainer` on records already read (summary.py reads them for more than this)."""
    held = lock is LockState.HELD
    if launch is not None and launch.pid is not None:
        launched = judge_launch(launch)
        if launched.alive or not held:
            return launched
        # The lock is held, but not by the launched process (gone, or not identifiable from here): the records
        # of the process that holds it tell more.
    owner = read_owner(run_dir) if lock in (LockState.HELD, LockState.FREE) else None
    start_time = getattr(start, "time", None)
    if held and owner is not None and owner.pid is not None and owner.start_time is not None and (
            start_time is None or owner.start_time > start_time):
        return _held(_judge_owner(owner))  # a session that has not logged its start yet (or a resume being set up)
    if start is not None and getattr(start, "pid", None) is not None:
        if lock is LockState.FREE and owner is not None and owner.host == socket.gethostname():
            return TrainerProcesses(False, TrainerSource.OWNER_LOCK, reason="its trainer ran on this host and no longer holds the lock")
        return _held(_judge_start(start)) if held else _judge_start(start)
    if held:
        return TrainerProcesses(True, TrainerSource.OWNER_LOCK, reason="a live process holds its lock, but the lock file does not say which")
    return TrainerProcesses(None, TrainerSource.NOTHING, reason=safe_text(
        f"{run_dir} has no launch.json and its events.jsonl records no trainer process (no run_start with a pid), "
        "and no live trainer holds its lock"))


def _held(found: TrainerProcesses) -> TrainerProcesses:
    """A held lock says alive, whatever else was found (the process may just not be identifiable from here)."""
    if found.alive:
        return found
    reason = found.reason or "a live process holds its lock, but not the process the run recorded"
    return TrainerProcesses(True, found.source, None, reason)


def judge_launch(record: LaunchRecord) -> TrainerProcesses:
    """The process a launcher recorded in launch.json, verified (start time and command line)."""
    source, host = TrainerSource.LAUNCH_RECORD, socket.gethostname()
    if record.host is not None and record.host != host:
        return TrainerProcesses(None, source, reason=safe_text(
            f"it was launched on {record.host}, not on this host ({host}): stop it there"))
    pid, cmdline = record.pid, record.cmdline or record.argv or []
    # Both the start time and the command line must match: a record without either (or with a start time
    # of "nan") names no process.
    if pid is None or record.create_time is None or not cmdline or not process_matches(pid, record.create_time, list(cmdline)):
        return TrainerProcesses(False, source, reason=f"the launched process (pid {pid}) is gone")
    return TrainerProcesses(True, source, TrainerProcess(pid, record.pgid or pid, record.create_time, tuple(cmdline)))


def _judge_owner(owner: OwnerRecord) -> TrainerProcesses:
    return _judge_recorded(TrainerSource.OWNER_LOCK, owner.host, owner.pid, owner.argv or [], None, owner.start_time)


def _judge_start(start: Event) -> TrainerProcesses:
    create_time = getattr(start, "create_time", None)
    return _judge_recorded(TrainerSource.START_EVENT, getattr(start, "host", None), getattr(start, "pid"),
                           getattr(start, "argv", None) or [], create_time, start.time if create_time is None else None)


def _judge_recorded(source: TrainerSource, host: str | None, pid: int, argv: list[str], create_time: float | None,
                    started_by: float | None) -> TrainerProcesses:
    """Rank 0's process as a start event or the owner lock recorded it: `create_time` (exact), or else a time
    `started_by` which the process must have started before."""
    here = socket.gethostname()
    if host != here:
        where = safe_text(host) if host else "an unknown host"
        return TrainerProcesses(None, source, reason=f"it runs on {where}, not on this host ({here}): stop it there (kill -INT {pid})")
    try:
        proc = psutil.Process(pid)
        cmdline, started = tuple(proc.cmdline()), proc.create_time()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return TrainerProcesses(False, source, reason=f"pid {pid} has exited")
    except (psutil.Error, ValueError, OverflowError):
        return TrainerProcesses(False, source, reason=f"pid {pid} is gone")
    if create_time is not None and not _same_start(started, create_time):
        return TrainerProcesses(False, source, reason=f"pid {pid} is gone (a process that started at another time has its number)")
    if started_by is not None and started > started_by + START_TIME_TOLERANCE_S:
        return TrainerProcesses(False, source, reason=f"pid {pid} is gone (a process that started after the run has its number)")
    if create_time is None and source is TrainerSource.START_EVENT:
        return TrainerProcesses(None, source, reason=(
            f"its start event records pid {pid} but not the process's start time (a trainer older than this version), "
            f"so pid {pid} cannot be told from a process that reused it: stop it with kill -INT {pid} after checking "
            f"it is the trainer (ps -fp {pid})"))
    if not runs_trainer_with(cmdline, argv):
        return TrainerProcesses(None, source, reason=safe_text(
            f"pid {pid} started when the run did, but its command line ({' '.join(cmdline)}) is not the one the run "
            "recorded: it may not be the run's trainer"))
    return TrainerProcesses(True, source, TrainerProcess(pid, None, started, cmdline))


def _same_start(actual: float, recorded: float) -> bool:
    # A record's "nan" matches nothing (it would compare as "not different" from any start time).
    return math.isfinite(recorded) and abs(actual - recorded) <= START_TIME_TOLERANCE_S


def process_matches(pid: int, create_time: float | None, cmdline: list[str] | None = None) -> bool:
    """True when `pid` is alive and is the process that was recorded: same start time (and command line).

    Pids are reused, so a bare `pid_exists` could point at an unrelated process after the run died.
    A zombie (exited, not yet reaped by its parent) counts as gone.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if create_time is not None and not _same_start(proc.create_time(), float(create_time)):
            return False
        if cmdline:
            return proc.cmdline() == list(cmdline)
        return True
    except (psutil.Error, ValueError, OverflowError):
        return False


def runs_trainer_with(cmdline: tuple[str, ...], argv: list[str]) -> bool:
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
