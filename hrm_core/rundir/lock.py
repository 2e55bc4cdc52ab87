"""The run directory's owner lock: one trainer per directory, for the life of its run.

Rank 0 takes an exclusive `flock` on `<run_dir>/run.lock` before it writes or cleans anything there, and
holds it until the run has written its `run_end`. The file then records who holds it (`OwnerRecord`: host,
pid, start time, command line), so that a second trainer can be refused with a message naming the owner.

- The lock is the `flock`, not the file: the kernel releases it when its process dies, however it dies
  (SIGKILL, out of memory). A lock file left by a dead process therefore never blocks anyone; its stale
  content is only ever used in messages. The file is never deleted (deleting a lock file races with a
  process about to lock it); a new owner overwrites the record.
- `flock` is per open file description and the descriptor is close-on-exec, so commands the trainer
  execs do not hold it; a child *forked* without exec would keep it until it exits.
- Readers (`lock_state`) test the lock with a non-blocking shared lock taken and dropped at once; a
  trainer that finds the lock busy retries for a second before it gives up, so a reader's test never
  makes a trainer fail.
- NFS: Linux maps `flock` on NFS to byte-range locks held by the server, which works across hosts when
  the mount has locking (the default; not with `-o nolock`, or `local_lock=flock`, where a lock is only seen
  on its own host). On a file system without locks, the trainer warns and runs unguarded.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import sys
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from hrm_core.formatting import format_local_time
from hrm_core.rundir.errors import RunDirError, write_error
from hrm_core.rundir.files import LOCK_FILE
from hrm_core.rundir.reader import read_record
from hrm_core.rundir.records import OwnerRecord
from hrm_core.checking import to_json_value

ACQUIRE_RETRY_S = 1.0  # how long a trainer retries a busy lock (a reader's test holds it for microseconds)
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


class LockHeld(RunDirError):
    """Another live process holds the run directory. `owner` is its record (None if unreadable)."""

    def __init__(self, run_dir: Path, owner: OwnerRecord | None):
        self.run_dir = run_dir
        self.owner = owner
        super().__init__(f"{run_dir} is in use by another trainer ({describe_owner(owner)})")


class LockState(str, Enum):
    HELD = "held"  # a live process holds the run directory
    FREE = "free"  # the lock file exists and nobody holds it
    ABSENT = "absent"  # no lock file (no trainer of this version ran here yet)
    UNKNOWN = "unknown"  # cannot be tested from here (no permission, no locks on this file system)

    def __str__(self) -> str:
        return self.value


def lock_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / LOCK_FILE


def read_owner(run_dir: str | os.PathLike[str]) -> OwnerRecord | None:
    """Who holds (or last held) the run directory, from the lock file; None if there is none."""
    return read_record(lock_path(run_dir), OwnerRecord).record


def describe_owner(owner: OwnerRecord | None) -> str:
    """`pid 4242 on gpu-7 since 2025-01-02 10:00:03` (with what is known), for messages."""
    if owner is None:
        return "owner unknown: the lock file holds no readable record"
    parts = [f"pid {owner.pid}" if owner.pid is not None else "pid unknown",
             f"on {owner.host}" if owner.host else "on an unknown host"]
    if owner.start_time is not None:
        parts.append("since " + format_local_time(owner.start_time, "%Y-%m-%d %H:%M:%S"))
    return " ".join(parts)


@dataclass
class RunDirLock:
    """A held owner lock (`acquire_lock`). Release it when the run has ended; the kernel does if we die."""

    path: Path
    owner: OwnerRecord
    enforced: bool  # False on a file system without locks: the run is unguarded (a warning was due)
    created: bool  # this acquisition created the lock file
    _fd: int | None

    def record_owner(self, argv: list[str] | None = None) -> None:
        """Writes this process into the lock file (host, pid, start time, command line), for messages."""
        self.owner = _this_process(argv)
        if self._fd is None:
            return
        try:
            data = (json.dumps(to_json_value(self.owner)) + "\n").encode("utf-8")
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
            os.fsync(self._fd)
        except OSError as e:
            raise write_error(self.path, e) from None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor releases the flock

    def abandon(self) -> None:
        """Releases the lock and leaves the directory as it was found: a lock file this acquisition created is
        removed again (safe: a process that opened it meanwhile sees it replaced, and retries)."""
        if self.created and self._fd is not None:
            try:
                self.path.unlink()
            except OSError:
                pass
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunDirLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_lock(run_dir: str | os.PathLike[str], *, argv: list[str] | None = None, record: bool = True,
                 retry_s: float = ACQUIRE_RETRY_S, fix: str | None = None) -> RunDirLock:
    """Takes the run directory's owner lock (creating the directory if needed) and records this process in it.

    With `record=False` nothing is written but a missing lock file: the caller checks the directory first
    (the trainer refuses to overwrite a run) and then calls `record_owner`, or `abandon` to leave it as it was.
    Raises LockHeld when a live process holds it, RunDirError when the directory or the lock file cannot
    be written (read-only file system, full disk, permissions; `fix` is the advice it gives).
    """
    run_dir = Path(run_dir)
    path = lock_path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(run_dir, e, fix=fix) from None
    deadline = time.monotonic() + retry_s
    while True:
        existed = path.exists()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:
            raise write_error(path, e, fix=fix) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise LockHeld(run_dir, read_owner(run_dir)) from None
        except OSError as e:
            os.close(fd)
            if e.errno in _NO_LOCKS:
                return RunDirLock(path, _this_process(argv), enforced=False, created=not existed, _fd=None)
            raise write_error(path, e, fix=fix) from None
        if not _still_names(fd, path):  # the file was replaced or removed between open and flock: retry
            os.close(fd)
            continue
        lock = RunDirLock(path, _this_process(argv), enforced=True, created=not existed, _fd=fd)
        if record:
            try:
                lock.record_owner(argv)
            except RunDirError:
                lock.release()
                raise
        return lock


def lock_state(run_dir: str | os.PathLike[str]) -> LockState:
    """Whether a live process holds the run directory, tested without blocking and without writing."""
    path = lock_path(run_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return LockState.ABSENT
    except OSError:
        return LockState.UNKNOWN
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return LockState.UNKNOWN
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return LockState.HELD
    except OSError:
        return LockState.UNKNOWN
    finally:
        os.close(fd)  # also drops the shared lock, if it was taken
    return LockState.FREE


def _still_names(fd: int, path: Path) -> bool:
    try:
        mine, current = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (current.st_dev, current.st_ino)


def _this_process(argv: list[str] | None) -> OwnerRecord:
    return OwnerRecord(host=socket.gethostname(), pid=os.getpid(), start_time=time.time(),
                       argv=list(sys.argv if argv is None else argv))
