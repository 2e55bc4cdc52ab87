"""Run discovery: every run of this user on this machine, newest first.

Runs are found in two places, and each run is listed once (by its resolved path):

- the per-user index of runs (hrm_core.rundir.index): every run adds itself when it starts, wherever its
  `checkpoint_path` is, hand-started and torchrun runs included;
- a scan of the runs root (`--runs-root`, default `./checkpoints`): any folder holding `events.jsonl` (the
  trainer's event log) or `launch.json` (written by the launcher before the trainer has logged anything);
  docs/run-directory.md describes both. This finds runs of older trainers, or copied from elsewhere.

What state each run is in is hrm_core.rundir.summary's job (`summarize_run`): this module only finds and
orders them, and asks the scheduler once per listing about every SLURM run's job (`scheduler_view`). An index entry whose folder has gone (or holds no run any more) is listed with the status
`missing`, and `hrm_core.rundir.index.prune_index` removes it.

Whatever the runs root holds, scanning it never raises and takes bounded time: the walk is breadth first
(shallow runs are found first) and iterative, goes at most `MAX_DEPTH` levels deep, looks at no more than
`MAX_SCAN_ENTRIES` directory entries, does not follow symbolic links (no loops), and skips folders it cannot
read. When it stops early, `Scan.stopped_early` says why, and the listing says so. A run whose summary fails
anyway (a bug: summarize_run does not raise for anything a file holds) is still listed, saying so, with its
traceback in the crash log.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hrm_core.rundir.files import EVENTS_FILE, LAUNCH_FILE
from hrm_core.rundir.index import EntryState, IndexEntry, IndexRead, entry_state, read_index
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.scheduler import SchedulerView, query_jobs
from hrm_core.rundir.summary import RunSummary, slurm_job_id, summarize_run

# How deep below the runs root run directories are looked for (<root>/<project>/<run> is 2).
MAX_DEPTH = 12
# How many directory entries one scan looks at: a home folder or a dataset tree of millions of files must not
# hold a listing up (50,000 entries take ~0.1 s on a local disk).
MAX_SCAN_ENTRIES = 50_000


@dataclass
class Scan:
    """The run directories found under a runs root, and whether the walk covered the whole tree."""

    root: Path  # absolute, for messages
    dirs: list[Path] = field(default_factory=list)  # under the root as it was given (relative if it was)
    stopped_early: str | None = None  # why the walk did not cover the tree, e.g. "after 50,000 entries"


@dataclass
class RunListing:
    """Every run found (`runs`, newest first; missing index entries last) and where they were looked for."""

    runs: list[RunSummary]
    scan: Scan
    index: IndexRead
    scheduler: SchedulerView = field(default_factory=SchedulerView)  # the refresh's one query of SLURM jobs

    @property
    def missing(self) -> list[RunSummary]:
        return [run for run in self.runs if run.status is RunStatus.MISSING]

    def searched(self) -> str:
        """Where runs were looked for, absolute: for a listing that found nothing."""
        return safe_text(f"searched {self.scan.root} and the index of runs {self.index.folder}")

    def notes(self) -> list[str]:
        """What the user must know about the search itself (sanitised): a scan cut short, skipped index files,
        missing runs that can be pruned."""
        notes = []
        if self.scan.stopped_early:
            notes.append(safe_text(f"the scan of {self.scan.root} stopped early ({self.scan.stopped_early}): runs "
                                   "deeper in it may be missing (give a narrower --runs-root)"))
        if self.index.truncated:
            notes.append(safe_text(f"the index {self.index.folder} holds too many files: only the first were read"))
        if self.index.skipped:
            notes.append(safe_text(f"{self.index.skipped} file(s) of the index {self.index.folder} are not index "
                                   f"entries and were skipped: {'; '.join(self.index.problems)}"))
        if self.scheduler.note:
            notes.append(safe_text(f"SLURM runs are judged by their own events: {self.scheduler.note}"))
        missing = len(self.missing)
        if missing:
            # Said once here, not in every missing row's detail.
            notes.append(f"{missing} indexed run(s) are missing (folder gone or empty): hrm-tui runs --prune "
                         "(x in the runs list) removes them from the index")
        return notes


def list_all_runs(runs_root: str | os.PathLike[str], *, now: float | None = None, index_folder: Path | None = None,
                  max_depth: int = MAX_DEPTH, max_entries: int = MAX_SCAN_ENTRIES) -> RunListing:
    """Every run of the index and of the runs root, each once, newest first; index entries whose folder has
    gone come last, with the status `missing`."""
    scan = scan_runs_root(runs_root, max_depth=max_depth, max_entries=max_entries)
    index = read_index(index_folder)
    root = scan.root
    present: dict[Path, Path] = {}
    for run_dir in scan.dirs:
        present.setdefault(_resolved(run_dir), run_dir)
    missing: list[RunSummary] = []
    gone: set[Path] = set()
    for entry in index.entries:
        key = _resolved(entry.path)
        if key in present or key in gone:
            continue
        state = entry_state(entry.path)
        if state is EntryState.PRESENT:
            present[key] = entry.path
        elif entry.local:  # another host's run may live on that host's own disk: not ours to judge
            missing.append(_missing(entry, state, root))
            gone.add(key)
    scheduler = scheduler_view(present.values())
    runs = [_summarize(run_dir, root, now, scheduler) for run_dir in present.values()]
    runs.sort(key=lambda s: (_sort_time(s), s.name), reverse=True)
    return RunListing(runs + missing, scan, index, scheduler)


def list_runs(root: str | os.PathLike[str], *, now: float | None = None) -> list[RunSummary]:
    """Every run directory under `root` (the scan alone, without the index), newest first."""
    scan = scan_runs_root(root)
    scheduler = scheduler_view(scan.dirs)
    summaries = [_summarize(d, scan.root, now, scheduler) for d in scan.dirs]
    summaries.sort(key=lambda s: (_sort_time(s), s.name), reverse=True)
    return summaries


def find_run_dirs(root: str | os.PathLike[str], *, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Folders under `root` (itself included) that hold `events.jsonl` or `launch.json` (see `scan_runs_root`)."""
    return scan_runs_root(root, max_depth=max_depth).dirs


def scan_runs_root(root: str | os.PathLike[str], *, max_depth: int = MAX_DEPTH,
                   max_entries: int = MAX_SCAN_ENTRIES) -> Scan:
    """The run directories under `root` (itself included), sorted, in bounded time.

    A run directory's own subfolders (its checkpoints) are not descended, nor hidden folders, nor symbolic
    links to folders. The walk is breadth first, so when `max_entries` cuts it short the runs nearest the
    root are the ones found.
    """
    scan = Scan(Path(os.path.abspath(root)))
    pending = deque([(Path(root), 0)])  # paths as given (relative stays relative, as the user wrote it)
    budget = max_entries
    too_deep = False
    cut = False
    while pending and not cut:
        folder, depth = pending.popleft()
        children, budget, cut = _list_folder(folder, budget)
        if children is None:
            continue
        if any(entry.name in (EVENTS_FILE, LAUNCH_FILE) for entry in children):
            scan.dirs.append(folder)  # a run directory's subfolders are its checkpoints, not more runs
            continue
        folders = [Path(entry.path) for entry in children if _is_folder(entry)]
        if depth < max_depth:
            pending.extend((child, depth + 1) for child in folders)
        elif folders:
            too_deep = True
    if cut or pending:
        left = f", {len(pending):,} folder(s) not looked into" if pending else ""
        scan.stopped_early = f"after {max_entries:,} directory entries{left}"
    elif too_deep:
        scan.stopped_early = f"not deeper than {max_depth} levels below it"
    scan.dirs.sort()
    return scan


def same_run(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same run directory (one may be relative, the other absolute)."""
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):
        return Path(a).absolute() == Path(b).absolute()


def scheduler_view(run_dirs: Iterable[Path]) -> SchedulerView:
    """One scheduler query for the jobs of all these runs (those submitted to SLURM): the per-refresh view
    every `summarize_run` of the refresh reads."""
    return query_jobs([job for job in map(slurm_job_id, run_dirs) if job])


def _summarize(run_dir: Path, root: Path, now: float | None, scheduler: SchedulerView) -> RunSummary:
    try:
        # No root: the name is set below (`_name`), and display_name's two resolve() calls per run would be lost.
        summary = summarize_run(run_dir, now=now, scheduler=scheduler)
    except Exception as error:  # noqa: BLE001 - one run must not hide the others; the bug is logged
        from hrm_tui.crash import record_worker_error

        log = record_worker_error(f"summarize {run_dir}", error)
        where = f"; traceback in {log}" if log is not None else ""
        summary = RunSummary(path=run_dir, name="", preset=None, status=RunStatus.LOST,
                             detail=safe_text(f"hrm-tui could not read this run ({type(error).__name__}: {error}): a bug{where}"))
    summary.name = _name(run_dir, root)
    return summary


def _missing(entry: IndexEntry, state: EntryState, root: Path) -> RunSummary:
    why = ("its folder has gone" if state is EntryState.MISSING
           else "its folder no longer holds a run")
    return RunSummary(path=entry.path, name=_name(entry.path, root), preset=None, status=RunStatus.MISSING,
                      start_time=entry.time, detail=why)


def _name(run_dir: Path, root: Path) -> str:
    """Under the runs root: the path relative to it. Elsewhere: the absolute path, with ~ for the home folder
    (an indexed run may be anywhere; its folder name alone would not say where). Sanitised."""
    try:
        return safe_text(run_dir.resolve().relative_to(root.resolve()).as_posix())
    except (ValueError, OSError, RuntimeError):
        pass
    path = os.path.abspath(run_dir)
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        path = "~" + path[len(home):]
    return safe_text(path)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def _list_folder(folder: Path, budget: int) -> tuple[list[os.DirEntry] | None, int, bool]:
    """A folder's entries (None if unreadable), at most `budget` of them, the budget left, and whether
    the folder held more than the budget allowed."""
    children: list[os.DirEntry] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if budget <= 0:
                    return children, budget, True
                children.append(entry)
                budget -= 1
    except OSError:
        return None, budget, False
    return children, budget, False


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


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


__all__ = ["MAX_DEPTH", "MAX_SCAN_ENTRIES", "RunListing", "Scan", "find_run_dirs", "list_all_runs", "list_runs",
           "same_run", "scan_runs_root"]
