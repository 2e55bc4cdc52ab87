"""The per-user index of runs: every run directory this user started on this machine, wherever it is.

A run's directory is its `checkpoint_path`, which may be anywhere. So that `hrm-tui runs` finds a run started
by hand (`python -m hrm_core.pretrain checkpoint_path=/scratch/x`), under torchrun or from another folder, the
trainer's rank 0 adds its run to this index as soon as it owns the directory, and a launcher (hrm-tui) does
the same when it starts one.

    $XDG_STATE_HOME/hrm/runs/            (default ~/.local/state/hrm/runs/; docs/run-directory.md, "The index")
      <sha256 of the path, 32 hex>.json  {"v": 1, "path": "/abs/run/dir", "host": "gpu-7", "time": 1735725600.0}

- **One small file per run**, named by a hash of the run directory's absolute path, written whole (a
  temporary file renamed over it). Concurrent runs therefore never write the same file, a run that starts
  again (resume) rewrites its own entry, and a reader sees an entry whole or not at all. No lock is needed.
- **Reading never raises and never trusts a file**: the folder may hold anything (garbage, escape sequences,
  a huge file, a FIFO, an unreadable file, another program's files). Only regular `*.json` files of at most
  `MAX_ENTRY_BYTES` whose `path` is an absolute path are entries; every other file is skipped and counted, and
  what is said about it (`IndexRead.problems`) is sanitised.
- **Entries are pointers, not runs**: the run's state is read from its directory (`summarize_run`). An entry
  of this host whose directory has gone, or no longer holds a run, is *stale* (`entry_state`); `prune_index`
  removes stale entries, and only those.
- Writing is best effort for the trainer: a failure to write the index warns and never stops training.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from hrm_core.rundir.files import EVENTS_FILE, LAUNCH_FILE
from hrm_core.rundir.lock import LockState, lock_state
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.tail import open_regular
from hrm_core.rundir.writer import write_file_atomic

INDEX_VERSION = 1
STATE_SUBDIR = "hrm"
INDEX_SUBDIR = "runs"  # under the state directory
ENTRY_SUFFIX = ".json"
MAX_ENTRY_BYTES = 64 * 1024  # an entry is ~150 bytes; a path is at most 4096
MAX_ENTRIES = 100_000  # files looked at in the index folder (a folder someone filled must not hang a listing)


def state_dir() -> Path:
    """hrm's XDG state directory: `$XDG_STATE_HOME/hrm`, or `~/.local/state/hrm` when XDG_STATE_HOME is unset,
    empty or relative (the XDG base directory specification says to ignore a relative path). The index of
    runs and hrm-tui's crash logs live there."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / STATE_SUBDIR


def index_dir() -> Path:
    """The index folder: `<state_dir()>/runs`."""
    return state_dir() / INDEX_SUBDIR


def entry_file_name(run_dir: str | os.PathLike[str]) -> str:
    """The index file of a run directory: a hash of its absolute path (any path fits a file name)."""
    key = os.fsencode(os.path.abspath(run_dir))
    return hashlib.sha256(key).hexdigest()[:32] + ENTRY_SUFFIX


@dataclass(frozen=True)
class IndexEntry:
    path: Path  # the run directory, absolute, as recorded (not sanitised: sanitise before showing)
    host: str | None  # the host that registered it
    time: float | None  # when it was (last) registered
    file: Path  # the index file that holds it

    @property
    def local(self) -> bool:
        """Registered on this host (or by an entry that does not say). An entry of another host (a home folder
        shared over NFS) may name a folder on that host's own disk: it is never judged missing from here."""
        return self.host is None or self.host == socket.gethostname()


class EntryState(str, Enum):
    PRESENT = "present"  # the directory holds a run (or a trainer holds it, still setting up)
    MISSING = "missing"  # the directory has gone
    EMPTY = "empty"  # the directory is there but holds no run any more, and nobody holds it

    def __str__(self) -> str:
        return self.value


@dataclass
class IndexRead:
    """What `read_index` found: the entries, newest registration first, and what it skipped."""

    folder: Path
    entries: list[IndexEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # sanitised, one per skipped file (the first few)
    skipped: int = 0  # files that are not entries
    truncated: bool = False  # the folder holds more than MAX_ENTRIES files: the rest were not read

    @property
    def stale(self) -> list[IndexEntry]:
        """The entries of this host whose folder has gone or holds no run any more (what `prune_index` removes)."""
        return [e for e in self.entries if e.local and entry_state(e.path) is not EntryState.PRESENT]


def register_run(run_dir: str | os.PathLike[str], *, folder: Path | None = None) -> Path:
    """Adds (or refreshes) `run_dir` in the index; returns the index file. Raises OSError (the folder) or
    RunDirError (the file, naming it) on failure: callers that must not fail (the trainer) warn instead."""
    run_dir = Path(os.path.abspath(run_dir))
    folder = index_dir() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / entry_file_name(run_dir)
    entry = {"v": INDEX_VERSION, "path": os.fsdecode(run_dir), "host": socket.gethostname(), "time": time.time()}
    write_file_atomic(path, (json.dumps(entry) + "\n").encode("utf-8"))
    return path


def read_index(folder: Path | None = None) -> IndexRead:
    """Every entry of the index, newest first; never raises for anything the folder holds."""
    folder = index_dir() if folder is None else folder
    result = IndexRead(folder)
    try:
        with os.scandir(folder) as scan:
            names = []
            for item in scan:
                if len(names) >= MAX_ENTRIES:
                    result.truncated = True
                    break
                names.append(item.name)
    except FileNotFoundError:
        return result
    except OSError as e:
        result.problems.append(safe_text(f"{folder}: unreadable ({e.strerror or type(e).__name__})"))
        return result
    seen: set[Path] = set()
    for name in sorted(names):
        if name.startswith("."):  # a temporary file being written
            continue
        entry, problem = _read_entry(folder / name)
        if entry is None or entry.path in seen:
            if problem is not None:
                result.skipped += 1
                if len(result.problems) < 5:
                    result.problems.append(safe_text(f"{name}: {problem}"))
            continue
        seen.add(entry.path)
        result.entries.append(entry)
    result.entries.sort(key=lambda e: e.time or 0.0, reverse=True)
    return result


def entry_state(run_dir: Path) -> EntryState:
    """Whether an entry's directory still holds a run. Never raises."""
    try:
        if not run_dir.is_dir():
            return EntryState.MISSING
        names = set(os.listdir(run_dir))
    except (OSError, ValueError):
        return EntryState.MISSING
    if EVENTS_FILE in names or LAUNCH_FILE in names or lock_state(run_dir) is LockState.HELD:
        return EntryState.PRESENT
    return EntryState.EMPTY


def prune_index(folder: Path | None = None) -> list[IndexEntry]:
    """Removes the entries whose directory has gone or holds no run any more; returns them."""
    removed = []
    for entry in read_index(folder).stale:
        try:
            entry.file.unlink()
        except FileNotFoundError:
            pass  # another prune got there first
        except OSError:
            continue
        removed.append(entry)
    return removed


def _read_entry(path: Path) -> tuple[IndexEntry | None, str | None]:
    """(the entry, None), or (None, why it is not one); (None, None) for a file that is not ours to judge."""
    if not path.name.endswith(ENTRY_SUFFIX):
        return None, "not an index entry (*.json)"
    try:
        with open_regular(path) as f:
            data = f.read(MAX_ENTRY_BYTES + 1)
    except OSError as e:
        return None, f"unreadable ({e.strerror or type(e).__name__})"
    if len(data) > MAX_ENTRY_BYTES:
        return None, "too large"
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "not JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    raw_path = obj.get("path")
    if not isinstance(raw_path, str) or not os.path.isabs(raw_path) or "\0" in raw_path:
        return None, "no absolute path in it"
    host = obj.get("host") if isinstance(obj.get("host"), str) else None
    when = obj.get("time")
    when = float(when) if isinstance(when, (int, float)) and not isinstance(when, bool) and abs(when) < 1e12 else None
    return IndexEntry(Path(raw_path), host, when, path), None


__all__ = ["EntryState", "IndexEntry", "IndexRead", "entry_file_name", "entry_state", "index_dir", "prune_index",
           "read_index", "register_run", "state_dir"]
