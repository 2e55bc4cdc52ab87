"""Human-readable figures shared by the trainer's step line and the terminal UI (no torch import)."""

from __future__ import annotations

import math

# What an ETA reads while the step rate has not settled yet (`eta_s` is null; see hrm_core/training/eta.py).
ETA_ESTIMATING = "estimating"


def format_duration(seconds: float | None) -> str:
    """12s, 5m 03s, 2h 04m, 3d 01h; '?' when unknown (None, NaN or infinite)."""
    if seconds is None or not math.isfinite(seconds):
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
