"""The runs list's cells as plain text: what the runs table (widgets/runs_table.py) and `hrm-tui runs` both
show. No Textual here, so that `hrm-tui runs` does not pay for importing it (~0.5 s on a small machine)."""

from __future__ import annotations

import math

from hrm_core.formatting import format_local_time
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.summary import RunSummary

MAX_AGE_S = 100 * 365 * 86400.0


def job_text(run: RunSummary) -> str:
    """A SLURM run's job in a few words, "" for other runs: `12 running node[1-2] (squeue)`,
    `13 queued BeginTime (squeue)`, `14 unknown (events)`. Sanitised."""
    if not run.job_id:
        return ""
    state = run.scheduler_state
    where = (run.reason if state.waiting else run.nodes) if state is not None else ""
    source = f"({run.scheduler_source})" if run.scheduler_source is not None else ""
    return safe_text(" ".join(part for part in (run.job_id, state.value if state else "unknown", where, source) if part))


def format_age(seconds: float | None) -> str:
    """`3s ago`, `5m ago`, `2h ago`, `3d ago`; `-` when unknown."""
    if seconds is None:
        return "-"
    if not math.isfinite(seconds) or abs(seconds) > MAX_AGE_S:
        return "?"  # a time from a file that no clock shows
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def format_time(timestamp: float | None, *, short: bool = False) -> str:
    """Local time of day with the date: `2025-01-02 10:00`, or `01-02 10:00` when short; `-` when unknown,
    `?` for a time no clock shows (a file may hold 1e300)."""
    if not timestamp:
        return "-"
    return format_local_time(timestamp, "%m-%d %H:%M" if short else "%Y-%m-%d %H:%M")
