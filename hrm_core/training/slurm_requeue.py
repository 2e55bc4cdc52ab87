"""The trainer's side of SLURM time limits and preemption: which job it runs in, and asking for a requeue.

The convention (docs/clusters.md, "Time limits and preemption"): under SLURM (`SLURM_JOB_ID` set), SIGTERM
means "save a checkpoint, then continue in a requeued job" (the time-limit warning `--signal=TERM@N`, and
the SIGTERM of preemption or of `scontrol requeue`); SIGINT means "save a checkpoint and stop for good"
(the cockpit's Stop). The next job segment runs the same batch script, whose `resume=auto` continues from
the newest checkpoint.

After its checkpoint, rank 0 asks for the requeue with `scontrol requeue <job id>`. When SLURM is already
requeueing the job itself (preemption with PreemptMode=REQUEUE, or `scontrol requeue` from outside), that
request fails ("Job is pending execution"); the job's restart count, already past this segment's, tells
the two apart, so such a failure is reported as the requeue it is, not as an error. The request is made only
while the job still runs (the time-limit warning): a job already ending that SLURM is not requeueing was
cancelled (`scancel` sends SIGTERM too), and is not brought back.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

JOB_ID_ENV = "SLURM_JOB_ID"
RESTART_COUNT_ENV = "SLURM_RESTART_COUNT"  # absent in a job's first segment; 1 after the first requeue
SCONTROL_TIMEOUT_S = 20.0  # a controller that does not answer in this time will not requeue in time either

_RESTARTS = re.compile(r"\bRestarts=(\d+)\b")
_JOB_STATE = re.compile(r"\bJobState=([A-Z_]+)")


@dataclass(frozen=True)
class SlurmJob:
    """The SLURM job this trainer runs in. `segment` counts the requeues before it (0: the first run)."""

    job_id: str
    segment: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SlurmJob | None:
        """The job of this process's environment, or None outside SLURM."""
        environ = os.environ if environ is None else environ
        job_id = environ.get(JOB_ID_ENV, "").strip()
        if not job_id:
            return None
        restarts = environ.get(RESTART_COUNT_ENV, "").strip()
        return cls(job_id=job_id, segment=int(restarts) if restarts.isdigit() else 0)


@dataclass(frozen=True)
class RequeueOutcome:
    """Whether the run continues in a requeued job, and a one-line reason for `run_end` and the console."""

    requeued: bool
    reason: str


def request_requeue(job: SlurmJob) -> RequeueOutcome:
    """Asks SLURM to requeue `job` (argv, no shell). Never raises: a failure is an outcome with its reason."""
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return RequeueOutcome(False, f"SLURM job {job.job_id}: scontrol is not on PATH, so the job cannot be requeued; "
                                     "resume the run with resume=auto")
    shown = _show_job(scontrol, job.job_id)
    state = _JOB_STATE.search(shown)
    if state is not None and state.group(1) != "RUNNING":
        # The job is already ending. SLURM may be requeueing it itself (preemption, `scontrol requeue`): its
        # restart count is then past this segment's. Otherwise it was cancelled: scancel (plain, or
        # --signal=KILL) sends SIGTERM too, once the controller has marked the job ending (COMPLETING), and a
        # job the user cancelled is not brought back.
        if _restarts_in(shown) > job.segment:
            return _requeued_by_slurm(job)
        return RequeueOutcome(False, f"SLURM job {job.job_id} is ending ({state.group(1)}: cancelled), so it is "
                                     "not requeued; resume the run with resume=auto to continue it")
    answer = _scontrol(scontrol, "requeue", job.job_id)
    if isinstance(answer, str):
        return RequeueOutcome(False, f"SLURM job {job.job_id}: scontrol requeue failed ({answer}); "
                                     "resume the run with resume=auto")
    if answer.returncode == 0:
        return RequeueOutcome(True, f"SLURM job {job.job_id} requeued after segment {job.segment}: "
                                    "the next segment continues from this checkpoint")
    refusal = (answer.stderr or answer.stdout).strip().splitlines()[-1:] or [f"exit status {answer.returncode}"]
    if _restarts_in(_show_job(scontrol, job.job_id)) > job.segment:
        return _requeued_by_slurm(job)
    return RequeueOutcome(False, f"SLURM job {job.job_id} could not be requeued (scontrol: {refusal[0]}); "
                                 "resume the run with resume=auto")


def _scontrol(scontrol: str, *args: str) -> subprocess.CompletedProcess[str] | str:
    try:
        return subprocess.run([scontrol, *args], capture_output=True, text=True, timeout=SCONTROL_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e) or type(e).__name__


def _show_job(scontrol: str, job_id: str) -> str:
    """`scontrol show job -o`'s one line about the job, or "" when it cannot be read."""
    answer = _scontrol(scontrol, "show", "job", "-o", job_id)
    return "" if isinstance(answer, str) or answer.returncode != 0 else answer.stdout


def _restarts_in(shown: str) -> int:
    """The restart count in `scontrol show job`'s line (-1 when it is not there)."""
    match = _RESTARTS.search(shown)
    return int(match.group(1)) if match else -1


def _requeued_by_slurm(job: SlurmJob) -> RequeueOutcome:
    return RequeueOutcome(True, f"SLURM job {job.job_id} is being requeued by SLURM (preemption or scontrol "
                                "requeue): the next segment continues from this checkpoint")
