"""The crash log: where a bug in hrm-tui leaves its traceback, so the terminal gets one line instead.

A crash of the app (an exception nothing handled) ends hrm-tui with exit status 1 and the line

    hrm-tui: internal error (KeyError: 'x'); the traceback is in ~/.local/state/hrm/crash-20250102-100003-4242.log

on stderr. A background worker that fails (the monitor's readers, the runs list's refresh) does not end the
app: it is reported in the app and its traceback goes to the same log. Neither touches a run: runs are
started detached (their own session and process group), and nothing the app does when it exits signals them.

The log lives in the XDG state directory: `$XDG_STATE_HOME/hrm/` (when XDG_STATE_HOME is an absolute
path), else `~/.local/state/hrm/`; when that cannot be written, the system's temporary directory. One file
per hrm-tui process; what is written is passed through `safe_text`, so printing the log cannot act on a
terminal either (a traceback may quote a string from a run directory).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from hrm_core.rundir.index import state_dir
from hrm_core.rundir.sanitize import safe_text

APP_NAME = "hrm"

_lock = threading.Lock()
_log_path: Path | None = None  # this process's crash log, once something was written to it


def write_crash_log(error: BaseException, *, what: str = "hrm-tui crashed") -> Path | None:
    """Appends `what` and the traceback of `error` to this process's crash log; returns its path, or None
    when no location could be written (then the caller says so)."""
    global _log_path
    entry = _entry(error, what)
    with _lock:
        candidates = [_log_path] if _log_path is not None else [state_dir(), Path(tempfile.gettempdir()) / APP_NAME]
        for candidate in candidates:
            path = candidate if candidate is _log_path else candidate / _file_name()
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
                    f.write(entry)
            except OSError:
                continue
            _log_path = path
            return path
    return None


def record_worker_error(worker: str, error: BaseException) -> Path | None:
    """A background worker's unexpected error: logged with its traceback; the app goes on."""
    return write_crash_log(error, what=f"worker {worker!r} failed (the app went on)")


def crash_line(error: BaseException, log: Path | None) -> str:
    """The one line a crash prints: what failed and where its traceback is."""
    summary = safe_text(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    if len(summary) > 200:
        summary = summary[:199] + "…"
    where = f"the traceback is in {safe_text(log)}" if log is not None else "no crash log could be written (see above)"
    return f"hrm-tui: internal error ({summary}); {where}"


def _entry(error: BaseException, what: str) -> str:
    try:
        version = importlib.metadata.version("hrm")
    except importlib.metadata.PackageNotFoundError:
        version = "(not installed)"
    header = [
        f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {what}",
        f"hrm {version}, Python {platform.python_version()} on {platform.platform()}",
        f"argv: {sys.argv!r}",
        f"pid: {os.getpid()}",
    ]
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return safe_text("\n".join(header) + "\n" + trace, multiline=True) + "\n"


def _file_name() -> str:
    return f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
