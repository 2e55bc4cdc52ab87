"""Run discovery: what run directories exist under a runs root, newest first.

A *run directory* is any folder holding `events.jsonl` (the trainer's event log) or `launch.json` (written by
the launcher before the trainer has logged anything); docs/run-directory.md describes both. What state each
one is in is hrm_core.rundir.summary's job (`summarize_run`): this module only finds and orders them.
"""

from __future__ import annotations

import os
from pathlib import Path

from hrm_core.rundir.files import EVENTS_FILE, LAUNCH_FILE
from hrm_core.rundir.summary import RunSummary, summarize_run


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


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


__all__ = ["find_run_dirs", "list_runs", "same_run"]
