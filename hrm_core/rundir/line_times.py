"""The time at the start of each line the trainer writes to a log file (stdout.log, stderr.log).

    2026-12-07T21:22:01.123Z step 50/200 (25%) | epoch 1.50 | loss 0.5000 | ...
    2026-12-07T21:22:09.870Z [hrm] SIGINT received: stopping after this step and saving a checkpoint ...

stdout and stderr are two files; the time on each line is what lets a reader (hrm-tui's logs panel) put them
back in the order they were written. Only lines written to a regular file carry it: a terminal and a pipe get
the plain line. A torchrun rank prefix (`[default0]:`) may come before the time; text that another program
wrote (a traceback, a warning) has none.
"""

from __future__ import annotations

import calendar
import os
import re
import stat
import time

_STAMP = re.compile(r"(?P<prefix>\[[^\]\s]{1,32}\]:)?(?P<stamp>(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z) ")


def stamp_line(line: str, when: float | None = None) -> str:
    """`line` after its UTC time to the millisecond."""
    when = time.time() if when is None else when
    seconds = int(when)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((when - seconds) * 1000):03d}Z {line}"


def split_line_time(line: str) -> tuple[float | None, str]:
    """(the line's time, the line without it); (None, line) for a line without one. Never raises."""
    match = _STAMP.match(line)
    if match is None:
        return None, line
    year, month, day, hour, minute, second, millis = (int(g) for g in match.groups()[2:])
    try:
        when = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + millis / 1000
    except (ValueError, OverflowError):
        return None, line
    return when, (match.group("prefix") or "") + line[match.end():]


def writes_to_a_file(fd: int) -> bool:
    """Whether `fd` is a regular file (a run directory's log), where lines carry their time."""
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except (OSError, ValueError):
        return False
