"""Errors about a run directory that a user must act on: a full disk, a read-only mount, another owner.

`RunDirError` carries a message that names the path, says what is wrong in plain words and how to fix it;
commands print it as one line and exit with status 2 (before the run started) or 1 (a run that failed), never
with a traceback. `write_error` turns the OSError of a failed write into one.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from hrm_core.formatting import format_bytes

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
READ_ONLY_ERRNOS = frozenset({errno.EROFS})
PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
NEARLY_FULL_BYTES = 64 * 1024


class RunDirError(Exception):
    """A run directory problem the user must fix; `str()` is the whole message, fix included."""


def os_error_in(exc: BaseException | None) -> OSError | None:
    """The OSError behind an exception (torch wraps a failed write into a RuntimeError), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def free_space(path: str | os.PathLike[str]) -> int | None:
    """Free bytes on the file system holding `path` (or its nearest existing parent)."""
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def write_error(path: str | os.PathLike[str], exc: BaseException, *, fix: str | None = None) -> RunDirError:
    """A clear error for a failed write of `path`: disk full (with the free space left), read-only file
    system, permission denied, or the system's own words. `fix` replaces the default advice."""
    error = os_error_in(exc)
    code = error.errno if error is not None else None
    where = Path(path)
    if code is None and (free_space(where.parent) or 0) < NEARLY_FULL_BYTES:
        code = errno.ENOSPC  # a writer that hid the OSError (torch's "unexpected pos"), on a full disk
    if code in DISK_FULL_ERRNOS:
        what = "quota exceeded" if code == errno.EDQUOT else "no space left"
        message = (f"cannot write {where}: the disk is full ({what} on the file system holding {where.parent}, "
                   f"{format_bytes(free_space(where.parent))} free)")
        advice = fix or "free some space there (or choose another checkpoint_path)"
    elif code in READ_ONLY_ERRNOS:
        message = f"cannot write {where}: {where.parent} is on a read-only file system"
        advice = fix or "choose a writable location (checkpoint_path=DIR), or remount it read-write"
    elif code in PERMISSION_ERRNOS:
        message = f"cannot write {where}: permission denied"
        advice = fix or f"make {where.parent} writable for this user, or choose another checkpoint_path"
    else:
        text = str(exc).strip()
        reason = error.strerror if error is not None and error.strerror else (text.splitlines()[0] if text else type(exc).__name__)
        message = f"cannot write {where}: {reason}"
        advice = fix
    return RunDirError(f"{message}; {advice}" if advice else message)
