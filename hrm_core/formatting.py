"""Human-readable figures shared by the trainer's messages and the terminal UI (no torch import)."""

from __future__ import annotations

import math
import time


_CENTURY_S = 100 * 365 * 86400.0

# What an ETA reads while the step rate has not settled yet (`eta_s` is null; see hrm_core/training/eta.py).
ETA_ESTIMATING = "estimating"


def format_duration(seconds: float | None) -> str:
    """12s, 5m 03s, 2h 04m, 3d 01h; '?' when unknown (None, NaN, infinite, or beyond a century: a time
    from a file, such as 1e300, that is no duration)."""
    if seconds is None or not math.isfinite(seconds) or abs(seconds) > _CENTURY_S:
        return "?"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_bytes(count: float | None) -> str:
    """512 B, 3.0 KB, 1.5 MB, 2.0 GB (powers of 1024); '?' when unknown."""
    if count is None or not math.isfinite(count):
        return "?"
    value = float(max(count, 0))
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def format_local_time(timestamp: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A Unix time as local time (`time.strftime` format); '?' when unknown or not a representable time.

    Times come from files (events, lock records) and may be anything a float holds: 1e300 or -1e300 make
    `time.localtime` raise, so every time shown from a run directory is formatted here.
    """
    if timestamp is None or not math.isfinite(timestamp):
        return "?"
    try:
        return time.strftime(fmt, time.localtime(timestamp))
    except (OverflowError, OSError, ValueError):
        return "?"
