"""Writing a run directory's files: the event log (`EventWriter`) and small JSON records.

Only the run directory's owner writes (rank 0 holding the lock, hrm_core.rundir.lock).

`EventWriter` appends each event as one line with one `write` call on an O_APPEND descriptor, so a reader
sees either nothing or the whole line, except when the writer dies mid-write or the disk fills up in the
middle of a line. Then the file ends mid-line; the rule that keeps every later line whole: **a writer that
opens a log ending mid-line (or whose own last write was cut short) terminates that line first**. The
damaged line is then a complete line that readers skip as invalid, and the next event starts on a line of
its own.

A failed write (full disk, read-only file system, no permission) raises `RunDirError` naming the file and
the fix, never a bare OSError.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from hrm_core.rundir.errors import RunDirError, write_error
from hrm_core.rundir.events import Event, encode_event
from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.checking import to_json_value


class EventWriter:
    """Appends events to `<run_dir>/events.jsonl`. Cheap enough to call every training step. Not
    thread-safe: share one behind a lock (training/run_log.py does)."""

    def __init__(self, run_dir: str | os.PathLike[str], *, fix: str | None = None):
        """`fix` is the advice a write error gives (e.g. how to resume once space is freed)."""
        self.path = Path(run_dir) / EVENTS_FILE
        self.fix = fix
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:
            raise write_error(self.path, e, fix=fix) from None
        self._needs_newline = _ends_mid_line(self.path)

    def write(self, event: Event) -> Event:
        """Appends `event` (stamping its `time` when unset) and returns it."""
        if event.time is None:
            event.time = time.time()
        self._append(encode_event(event))
        return event

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            raise RunDirError(f"{self.path} is closed")
        if self._needs_newline:
            data = b"\n" + data
        written = 0
        try:
            while written < len(data):  # one write in practice; a short write happens only when the disk fills
                written += os.write(self._fd, data[written:])
        except OSError as e:
            if written:
                self._needs_newline = True  # the file now ends inside this line
            raise write_error(self.path, e, fix=self.fix) from None
        self._needs_newline = False

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_mid_line(path: Path) -> bool:
    """Whether a non-empty file's last byte is not a newline (a writer died or a disk filled mid-line)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:
        return False


def write_file_atomic(path: str | os.PathLike[str], data: bytes, *, fix: str | None = None) -> None:
    """Replaces `path` with `data` all at once (a temporary file renamed over it): a reader sees the old
    content or the new, never half of it. Raises RunDirError naming the file on failure."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise write_error(path, e, fix=fix) from None


def write_json_record(path: str | os.PathLike[str], record: Any, *, fix: str | None = None) -> None:
    """A record (records.py) as an indented JSON file, written atomically."""
    write_file_atomic(path, (json.dumps(to_json_value(record), indent=2) + "\n").encode("utf-8"), fix=fix)
