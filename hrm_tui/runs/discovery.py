"""Run discovery: what runs exist under a runs root, and what state each one is in.

A *run directory* is any folder holding `events.jsonl` (the trainer's event log) or `launch.json` (written by
the launcher before the trainer has logged anything). See docs/run-directory.md for both files.

The status of a run comes from two sources, because neither alone is enough:

- the event log says how a run ended (`run_end` with `finished`, `failed` or `stopped`);
- the process table says whether a run without a `run_end` is still alive. A run whose process is gone and
  that never wrote `run_end` was killed (SIGKILL, out of memory, machine down): it is *lost*.

When the process cannot be checked from here (the run was started on another host that shares the
filesystem, or by hand without `launch.json`), the heartbeat decides: a run is alive while events keep
arriving.

Only the head of the event log (where `run_start` sits) and its tail (where the newest step and any
`run_end` sit) are read, so listing a run that logged a million events costs the same as a fresh one.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from hrm_core.events import EVENTS_FILE, RESUME, RUN_END, RUN_START, parse_line

LAUNCH_FILE = "launch.json"
COMMAND_FILE = "command.json"

# Statuses shown to the user. The first three come from `run_end`; the others are inferred.
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
STOPPED = "stopped"
LOST = "lost"
STATUSES = (RUNNING, FINISHED, FAILED, STOPPED, LOST)

# How much of the event log is read from each end. run_start carries the whole config and the puzzle
# description (a few KB); the tail needs only the last few events.
_HEAD_BYTES = 256 * 1024
_TAIL_BYTES = 64 * 1024

# Without a process to check, a run whose newest event is older than this is considered lost. The trainer
# beats every `heartbeat_interval_s` (default 30 s), so this tolerates a few missed beats.
DEFAULT_STALE_AFTER_S = 180.0


@dataclass
class RunSummary:
    """One row of the runs table: everything a list of runs shows about a run."""

    path: Path
    name: str  # the run directory relative to the runs root, e.g. "Sudoku-extreme-1k-aug-1000 ACT-torch/cool-cat"
    preset: str | None  # the `experiment` preset it was launched with, if any
    status: str  # one of STATUSES
    step: int | None = None
    total_steps: int | None = None
    start_time: float | None = None  # Unix seconds
    last_event_time: float | None = None  # newest event of any type (heartbeats included)
    pid: int | None = None  # the launched process (torchrun or the trainer), from launch.json or run_start
    overrides: list[str] = field(default_factory=list)  # the Hydra overrides it was launched with
    detail: str = ""  # why the status is what it is, when that is not obvious (e.g. an error's last line)

    @property
    def progress(self) -> float | None:
        """Fraction of planned steps done, in [0, 1], or None when unknown."""
        if self.step is None or not self.total_steps:
            return None
        return max(0.0, min(1.0, self.step / self.total_steps))

    @property
    def is_active(self) -> bool:
        return self.status == RUNNING


def read_launch_record(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The launcher's `launch.json` for a run, or None if absent or unreadable."""
    return _read_json(Path(run_dir) / LAUNCH_FILE)


def read_command_record(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The trainer's `command.json` (its argv, overrides and cwd), or None if absent or unreadable."""
    return _read_json(Path(run_dir) / COMMAND_FILE)


def summarize_run(
    run_dir: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    now: float | None = None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
) -> RunSummary:
    """Summarises one run directory. `root` only shapes the displayed name (relative path)."""
    run_dir = Path(run_dir)
    now = time.time() if now is None else now
    launch = read_launch_record(run_dir) or {}
    command = _read_json(run_dir / COMMAND_FILE) or {}
    head, tail = _read_head_and_tail(run_dir / EVENTS_FILE)

    start_event = next((e for e in head if e.get("type") in (RUN_START, RESUME)), None)
    overrides = _first_list(launch.get("overrides"), command.get("overrides"), (start_event or {}).get("overrides"))

    summary = RunSummary(
        path=run_dir,
        name=_display_name(run_dir, root),
        preset=preset_from_overrides(overrides),
        status=RUNNING,
        overrides=overrides,
        pid=_as_int(launch.get("pid")) or _as_int((start_event or {}).get("pid")),
    )
    summary.start_time = _first_number((start_event or {}).get("time"), launch.get("time"))
    summary.total_steps = _as_int((start_event or {}).get("total_steps"))

    # Walk the tail in order: the newest step, the newest total, and whether the last lifecycle event is an end.
    end_event: dict[str, Any] | None = None
    newest_events = tail or head  # the tail, when the log is longer than the head
    for event in newest_events:
        if isinstance(event.get("time"), (int, float)):
            summary.last_event_time = float(event["time"])
        if isinstance(event.get("step"), int):
            summary.step = event["step"]
        if isinstance(event.get("total_steps"), int):
            summary.total_steps = event["total_steps"]
        if event.get("type") in (RUN_START, RESUME):
            end_event = None  # a resume after a run_end means the run is going again
        elif event.get("type") == RUN_END:
            end_event = event

    relaunched = end_event is not None and _number(launch.get("time")) > _number(end_event.get("time"))
    if relaunched and _process_alive(launch, None):
        # Resumed after it ended, and the new process has not logged its `resume` event yet.
        summary.status = RUNNING
        summary.detail = "resuming"
        return summary
    if end_event is not None:
        status = str(end_event.get("status", FAILED))
        summary.status = status if status in (FINISHED, FAILED, STOPPED) else FAILED
        if summary.status == FAILED:
            summary.detail = _last_line(str(end_event.get("error", "")))
        return summary

    alive = _process_alive(launch, start_event)
    if alive is None:  # cannot check the process from here: fall back to the heartbeat
        newest = summary.last_event_time or summary.start_time
        alive = newest is not None and now - newest < stale_after_s
        if not alive:
            summary.detail = "no event for a long time and its process cannot be checked from this host"
    if alive:
        summary.status = RUNNING
    elif start_event is None and launch:
        # The process exited before the trainer logged its start: a config or import error. Its stderr says why.
        summary.status = FAILED
        summary.detail = _last_line(_tail_text(run_dir / "stderr.log")) or "exited before training started"
    else:
        summary.status = LOST
        summary.detail = summary.detail or "the process is gone and the run never logged its end"
    return summary


def list_runs(root: str | os.PathLike[str], *, now: float | None = None) -> list[RunSummary]:
    """Every run directory under `root`, newest first (by start time, else by directory time)."""
    root = Path(root)
    if not root.is_dir():
        return []
    summaries = [summarize_run(d, root, now=now) for d in find_run_dirs(root)]
    summaries.sort(key=lambda s: (s.start_time or _mtime(s.path), s.name), reverse=True)
    return summaries


def find_run_dirs(root: str | os.PathLike[str]) -> list[Path]:
    """Folders under `root` that hold `events.jsonl` or `launch.json`. Checkpoint folders are not descended."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if EVENTS_FILE in filenames or LAUNCH_FILE in filenames:
            found.append(Path(dirpath))
            dirnames[:] = []  # a run directory's subfolders are its checkpoints, not more runs
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return found


def same_run(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same run directory (one may be relative, the other absolute)."""
    return Path(a).resolve() == Path(b).resolve()


def preset_from_overrides(overrides: list[str]) -> str | None:
    """The value of an `experiment=` / `+experiment=` override, the way presets are selected."""
    for override in overrides:
        key, sep, value = override.lstrip("+~").partition("=")
        if sep and key == "experiment":
            return value
    return None


# ----------------------------------------------------------------------------------------------------------
# Process identity


def process_matches(pid: int, create_time: float | None, cmdline: list[str] | None = None) -> bool:
    """True when `pid` is alive and is the process that was recorded: same start time (and command line).

    Pids are reused, so a bare `pid_exists` could point at an unrelated process after the run died.
    A zombie (exited, not yet reaped by its parent) counts as gone.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if create_time is not None and abs(proc.create_time() - float(create_time)) > 1.0:
            return False
        if cmdline:
            return proc.cmdline() == list(cmdline)
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _process_alive(launch: dict[str, Any], start_event: dict[str, Any] | None) -> bool | None:
    """Whether the run's process is alive; None when it cannot be checked from this host."""
    host = socket.gethostname()
    if launch.get("pid") is not None and launch.get("host", host) == host:
        return process_matches(int(launch["pid"]), launch.get("create_time"), launch.get("cmdline"))
    if start_event and start_event.get("pid") is not None and start_event.get("host") == host:
        # Started by hand: no recorded start time. The trainer's start event is written seconds after the
        # process starts, so a process that started after that event cannot be it.
        try:
            proc = psutil.Process(int(start_event["pid"]))
            started_before_event = proc.create_time() <= float(start_event.get("time", 0)) + 1.0
            return started_before_event and proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, ValueError):
            return False
    return None


# ----------------------------------------------------------------------------------------------------------
# File helpers


def _read_head_and_tail(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events from the first and last few KB of an event log. The tail is empty when the head covers it all."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head_bytes = f.read(_HEAD_BYTES)
            tail_bytes = b""
            if size > _HEAD_BYTES:
                f.seek(max(_HEAD_BYTES, size - _TAIL_BYTES))
                tail_bytes = f.read()
    except OSError:
        return [], []
    head = _parse_complete_lines(head_bytes, drop_first=False)
    tail = _parse_complete_lines(tail_bytes, drop_first=True) if tail_bytes else []
    return head, tail


def _parse_complete_lines(data: bytes, *, drop_first: bool) -> list[dict[str, Any]]:
    lines = data.split(b"\n")
    lines = lines[:-1]  # the piece after the last newline is incomplete (or empty)
    if drop_first and lines:
        lines = lines[1:]  # we probably seeked into the middle of a line
    events = []
    for line in lines:
        event = parse_line(line)
        if event is not None:
            events.append(event)
    return events


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tail_text(path: Path, nbytes: int = 4096) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - nbytes))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _display_name(run_dir: Path, root: str | os.PathLike[str] | None) -> str:
    if root is not None:
        try:
            return run_dir.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return run_dir.name


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_number(*values: Any) -> float | None:
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _first_list(*values: Any) -> list[str]:
    for value in values:
        if isinstance(value, list):
            return [str(v) for v in value]
    return []


__all__ = [
    "FAILED",
    "FINISHED",
    "LOST",
    "RUNNING",
    "STATUSES",
    "STOPPED",
    "RunSummary",
    "find_run_dirs",
    "list_runs",
    "preset_from_overrides",
    "process_matches",
    "read_command_record",
    "read_launch_record",
    "same_run",
    "summarize_run",
]
