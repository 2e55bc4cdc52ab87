"""The scheduler's view of SLURM jobs: one query per refresh for every job the runs list knows.

    view = query_jobs(["12", "13", ...])    # SchedulerView; never raises
    job = view.job("12")                    # JobInfo or None (unknown to the scheduler, or no scheduler)
    job.state, job.reason, job.expected_start, job.nodes, job.source

Where the answer comes from (`JobSource`), in this order, each asked once for all the ids still unanswered:

1. `squeue -h -t all -j ID,ID,...`: the controller, for jobs queued, running, or ended a few minutes ago
   (MinJobAge);
2. `sacct -X -n -P -j ...`: the accounting database, for jobs the controller has forgotten;
3. `sacct -c ...`: the job-completion file, where accounting is off (`jobcomp/filetxt`);
4. none: the caller judges the run by its own events (summary.py), and says so.

A host without SLURM's programs, a controller that does not answer, output that does not parse: each gives
a view that knows fewer jobs (and a `note` saying why), never an exception. The view is the per-refresh
cache: a list builds one for all its runs and passes it to each `summarize_run`.

SLURM's states map onto the few a user needs (docs/clusters.md, "States"):

    queued      PENDING, CONFIGURING                                        (reason, expected start)
    running     RUNNING, COMPLETING, SUSPENDED, STOPPED, SIGNALING, ...     (node list)
    requeued    REQUEUED, REQUEUE_HOLD, REQUEUE_FED, SPECIAL_EXIT           (waiting to run again)
    finished    COMPLETED
    failed      FAILED, NODE_FAIL, BOOT_FAIL, OUT_OF_MEMORY, DEADLINE, PREEMPTED
    cancelled   CANCELLED
    timeout     TIMEOUT
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from hrm_core.rundir.sanitize import safe_text

QUERY_TIMEOUT_S = 5.0  # a controller that does not answer must not hold a refresh for long
# squeue's and sacct's fields, '|'-separated: id, state, reason, start (expected while pending), node list.
_SQUEUE_FORMAT = "%i|%T|%r|%S|%N"
_SACCT_FIELDS = "JobIDRaw,State,Reason,Start,NodeList"
# A job id as sbatch prints it: a number, an array task (12_3) or a heterogeneous component (12+1). Anything
# else read from a run directory is never passed to squeue or scancel (and would spoil the query for all).
_JOB_ID = re.compile(r"^\d{1,12}(?:[_+]\d{1,9})?$")


def is_job_id(text: object) -> bool:
    return isinstance(text, str) and bool(_JOB_ID.match(text))


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    REQUEUED = "requeued"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    def __str__(self) -> str:
        return self.value

    @property
    def waiting(self) -> bool:
        """Pending: queued for the first time, or requeued and waiting to run again."""
        return self in (JobState.QUEUED, JobState.REQUEUED)

    @property
    def ended(self) -> bool:
        return self in (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT)


class JobSource(str, Enum):
    """What a job's state was read from."""

    SQUEUE = "squeue"
    SACCT = "sacct"
    JOBCOMP = "sacct -c"
    EVENTS = "events"  # the scheduler does not know the job (or cannot be reached): the run's own events

    def __str__(self) -> str:
        return self.value


_STATES = {
    "PENDING": JobState.QUEUED, "CONFIGURING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING, "COMPLETING": JobState.RUNNING, "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING, "SIGNALING": JobState.RUNNING, "RESIZING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING, "POWER_UP_NODE": JobState.QUEUED, "RESV_DEL_HOLD": JobState.QUEUED,
    "REQUEUED": JobState.REQUEUED, "REQUEUE_HOLD": JobState.REQUEUED, "REQUEUE_FED": JobState.REQUEUED,
    "SPECIAL_EXIT": JobState.REQUEUED,
    "COMPLETED": JobState.FINISHED,
    "FAILED": JobState.FAILED, "NODE_FAIL": JobState.FAILED, "BOOT_FAIL": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED, "DEADLINE": JobState.FAILED, "PREEMPTED": JobState.FAILED,
    "REVOKED": JobState.CANCELLED, "CANCELLED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
}


def job_state(slurm_state: str) -> JobState | None:
    """The view's state for SLURM's (`CANCELLED by 0` -> cancelled, `PENDING` -> queued); None if unknown."""
    word = slurm_state.strip().split(" ")[0].rstrip("+").upper()
    return _STATES.get(word)


@dataclass(frozen=True)
class JobInfo:
    """One job as the scheduler sees it. Strings are sanitised (they come from another program)."""

    job_id: str
    state: JobState
    slurm_state: str  # SLURM's own word, e.g. PENDING, CANCELLED
    reason: str = ""  # why it waits (Priority, Resources, BeginTime, JobHeldUser, ...); "" when none
    expected_start: float | None = None  # Unix seconds: the scheduler's estimate while pending, else the start
    nodes: str = ""  # SLURM's node list, e.g. node[1-2]
    source: JobSource = JobSource.SQUEUE


@dataclass
class SchedulerView:
    """The jobs one query found, by id, and what the user should know about the query (`note`)."""

    jobs: dict[str, JobInfo] = field(default_factory=dict)
    reachable: bool = True  # False: no SLURM here, or the controller did not answer
    note: str = ""

    def job(self, job_id: str | None) -> JobInfo | None:
        return self.jobs.get(job_id) if job_id else None


def query_jobs(job_ids: Iterable[str], *, timeout_s: float = QUERY_TIMEOUT_S) -> SchedulerView:
    """The scheduler's view of these jobs (see the module docstring). Never raises."""
    wanted = sorted({j for j in job_ids if is_job_id(j)})
    view = SchedulerView()
    if not wanted:
        return view
    if shutil.which("squeue") is None:
        return SchedulerView(reachable=False, note="scheduler not reachable from here (no squeue on this host)")
    answer = _run(["squeue", "-h", "-t", "all", "-j", ",".join(wanted), "-o", _SQUEUE_FORMAT], timeout_s)
    if answer.ok:
        view.jobs.update(_parse(answer.text, JobSource.SQUEUE, wanted))
    elif not answer.unknown_ids:
        view.reachable = False
        view.note = f"scheduler not reachable from here (squeue: {answer.error})"
        return view
    rest = [j for j in wanted if j not in view.jobs]
    if rest and shutil.which("sacct") is not None:
        fields = ["-X", "-n", "-P", "-j", ",".join(rest), "-o", _SACCT_FIELDS]
        answer = _run(["sacct", *fields], timeout_s)
        source = JobSource.SACCT
        if not answer.ok:  # accounting off: the job-completion file
            answer, source = _run(["sacct", "-c", *fields], timeout_s), JobSource.JOBCOMP
        if answer.ok:
            view.jobs.update(_parse(answer.text, source, rest))
    return view


@dataclass(frozen=True)
class _Answer:
    ok: bool
    text: str = ""
    error: str = ""
    unknown_ids: bool = False  # squeue knows none of the ids (they ended long ago): not a failure


def _run(argv: list[str], timeout_s: float) -> _Answer:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return _Answer(False, error=f"no answer in {timeout_s:g} s")
    except OSError as error:
        return _Answer(False, error=str(error))
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        message = safe_text(lines[-1] if lines else f"exit status {done.returncode}")
        return _Answer(False, error=message, unknown_ids="Invalid job id" in (done.stderr or ""))
    # sacct -c prints parse complaints about other jobs' records on stderr and still answers: keep stdout.
    return _Answer(True, text=done.stdout)


def _parse(text: str, source: JobSource, wanted: list[str]) -> dict[str, JobInfo]:
    """`id|state|reason|start|nodes` lines; the last line of a job wins (sacct -c lists each run of a requeued
    job). Lines that do not parse, and ids not asked for (job steps, other jobs), are skipped."""
    wanted_set = set(wanted)
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 5:
            continue
        job_id, slurm_state, reason, start, nodes = (p.strip() for p in parts[:5])
        state = job_state(slurm_state)
        if job_id not in wanted_set or state is None:
            continue
        jobs[job_id] = JobInfo(
            job_id=job_id,
            state=state,
            slurm_state=safe_text(slurm_state.split(" ")[0]),
            reason="" if reason in ("None", "(null)", "") else safe_text(reason),
            expected_start=_time(start),
            nodes="" if nodes in ("(null)", "None assigned", "") else safe_text(nodes),
            source=source,
        )
    return jobs


def _time(text: str) -> float | None:
    """SLURM's local ISO time (`2026-12-08T00:56:35`); None for N/A, Unknown, None or anything else."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
