"""Which rank failed first, and with what error: the per-rank failure records of a run directory.

Under torchrun only rank 0 writes `events.jsonl`. When another rank raises, rank 0 usually fails a moment
later in a collective ("Connection closed by peer"), or is stopped by torchrun, and its `run_end` records
that consequence, not the cause. So every rank whose run fails writes its own error first:

    <run_dir>/failure_rank_<R>.json   {"rank": R, "host": ..., "pid": ..., "time": ..., "step": ..., "error": "Traceback ..."}

(written whole, by a temporary file renamed over it; only once the session's run_start/resume was written,
so a run refused at its start leaves its folder as it was). The *root cause* of a failed session is the
earliest record written since that session started (`root_cause`); readers show it instead of rank 0's
`run_end` error when they differ (docs/run-directory.md, "Failed runs").

Reading never raises: unreadable or malformed records are left out.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.files import rank_failure_file, rank_failure_rank
from hrm_core.rundir.reader import read_record
from hrm_core.rundir.records import RankFailure
from hrm_core.rundir.writer import write_json_record

MAX_FAILURE_RECORDS = 4096  # ranks read (a run of more ranks keeps the first 4096 by name)
CLOCK_SLACK_S = 5.0  # ranks on several hosts: a record may be stamped slightly before the start event


@dataclass(frozen=True)
class Failure:
    """A failed session's error: which rank (None when only rank 0's run_end tells), and its text."""

    rank: int | None
    error: str  # as found in the file: sanitise before showing
    host: str | None = None


def write_rank_failure(run_dir: str | os.PathLike[str], *, rank: int, step: int, error: str) -> RunDirError | None:
    """Records this rank's error; returns the error of a failed write instead of raising (the run is failing
    already: its own error must not be lost to a full disk)."""
    record = RankFailure(rank=rank, host=socket.gethostname(), pid=os.getpid(), time=time.time(), step=step, error=error)
    try:
        write_json_record(Path(run_dir) / rank_failure_file(rank), record)
    except RunDirError as e:
        return e
    return None


def read_rank_failures(run_dir: str | os.PathLike[str], *, since: float | None = None) -> list[RankFailure]:
    """The failure records of the run directory written since `since` (all when None), earliest first."""
    try:
        with os.scandir(run_dir) as entries:
            names = [e.name for e in entries if rank_failure_rank(e.name) is not None]
    except OSError:
        return []
    failures = []
    for name in sorted(names)[:MAX_FAILURE_RECORDS]:
        record = read_record(Path(run_dir) / name, RankFailure).record
        if record is None or record.time is None or record.error is None or record.rank != rank_failure_rank(name):
            continue
        if since is not None and record.time < since - CLOCK_SLACK_S:
            continue  # an earlier session's
        failures.append(record)
    failures.sort(key=lambda f: f.time)
    return failures


def root_cause(run_dir: str | os.PathLike[str], *, since: float | None, run_end_error: str | None) -> Failure | None:
    """The error a failed session is to be known by: the earliest rank failure since it started, else the
    `run_end` error; None when neither says anything."""
    failures = read_rank_failures(run_dir, since=since)
    if failures:
        first = failures[0]
        return Failure(first.rank, first.error or "", first.host)
    if run_end_error:
        return Failure(None, run_end_error)
    return None


__all__ = ["Failure", "read_rank_failures", "root_cause", "write_rank_failure"]
