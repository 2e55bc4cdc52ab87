"""Run discovery: what run directories exist under a runs root, newest first.

A *run directory* is any folder holding `events.jsonl` (the trainer's event log) or `launch.json` (written by
the launcher before the trainer has logged anything); docs/run-directory.md describes both. What state each
one is in is hrm_core.rundir.summary's job (`summarize_run`): this module only finds and orders them.

Whatever the runs root holds, listing it never raises and covers every run directory in it: the walk is
iterative (a folder nested thousands deep does not exhaust the stack) and bounded to MAX_DEPTH levels, does
not follow symbolic links (no loops), and skips folders it cannot read. A run whose summary fails anyway (a
bug: summarize_run does not raise for anything a file holds) is still listed, saying so, with its traceback
in the crash log.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from hrm_core.rundir.files import EVENTS_FILE, LAUNCH_FILE
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import RunSummary, display_name, summarize_run

# How deep below the runs root run directories are looked for (<root>/<project>/<run> is 2).
MAX_DEPTH = 12


def list_runs(root: str | os.PathLike[str], *, now: float | None = None) -> list[RunSummary]:
    """Every run directory under `root`, newest first (by start time, else by directory time)."""
    root = Path(root)
    if not root.is_dir():
        return []
    summaries = [_summarize(d, root, now) for d in find_run_dirs(root)]
    summaries.sort(key=lambda s: (_sort_time(s), s.name), reverse=True)
    return summaries


def find_run_dirs(root: str | os.PathLike[str], *, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Folders under `root` (itself included) that hold `events.jsonl` or `launch.json`.

    A run directory's own subfolders (its checkpoints) are not descended, nor hidden folders, nor symbolic
    links to folders.
    """
    found: list[Path] = []
    pending = [(Path(root), 0)]
    while pending:
        folder, depth = pending.pop()
        try:
            with os.scandir(folder) as entries:
                children = list(entries)
        except OSError:
            continue
        names = {entry.name for entry in children}
        if EVENTS_FILE in names or LAUNCH_FILE in names:
            found.append(folder)
            continue  # a run directory's subfolders are its checkpoints, not more runs
        if depth >= max_depth:
            continue
        for entry in children:
            try:
                is_folder = not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_folder:
                pending.append((Path(entry.path), depth + 1))
    found.sort()
    return found


def same_run(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same run directory (one may be relative, the other absolute)."""
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):
        return Path(a).absolute() == Path(b).absolute()


def _summarize(run_dir: Path, root: Path, now: float | None) -> RunSummary:
    try:
        return summarize_run(run_dir, root, now=now)
    except Exception as error:  # noqa: BLE001 - one run must not hide the others; the bug is logged
        from hrm_tui.crash import record_worker_error

        log = record_worker_error(f"summarize {run_dir}", error)
        where = f"; traceback in {log}" if log is not None else ""
        return RunSummary(path=run_dir, name=safe_text(display_name(run_dir, root)), preset=None, status=RunStatus.LOST,
                          detail=safe_text(f"hrm-tui could not read this run ({type(error).__name__}: {error}): a bug{where}"))


def _sort_time(summary: RunSummary) -> float:
    """Newest first by start time; a run without one (or with a time no clock shows) by its folder's time."""
    value = summary.start_time
    if value is None or not math.isfinite(value):
        return _mtime(summary.path)
    return value


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


__all__ = ["MAX_DEPTH", "find_run_dirs", "list_runs", "same_run"]
