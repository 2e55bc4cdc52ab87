"""Submitting a planned run to SLURM: `submit(plan, profile) -> SubmittedJob`.

    <run_dir>/job.sbatch     the batch script (batch_script.py), written before sbatch runs
    sbatch --parsable <run_dir>/job.sbatch       (an argv list, run in the plan's folder)
    <run_dir>/slurm.json     job id, cluster, profile, submit time, script name (hrm_core.rundir.records)
    <run_dir>/launch.json    what was launched (overrides, options, config folder), without a pid: clone and
                             resume read a SLURM run's recipe like any other's
    the per-user index       the run is listed at once, from any folder

The run directory exists from the moment of submission; `slurm.json` and `launch.json` are written only once
sbatch has answered, so the run is never listed without its job. When sbatch refuses the job (an unknown
partition, more nodes than the partition has, a time that is not a time), its own message is raised as a
LaunchError naming the profile field it is about, and what this submission made is removed again: the
script, empty logs, and the folders it created. Nothing is left to be listed as lost.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.files import BATCH_SCRIPT_FILE, EVENTS_FILE, LAUNCH_FILE, SLURM_FILE, STDERR_FILE, STDOUT_FILE
from hrm_core.rundir.index import register_run
from hrm_core.rundir.records import LaunchRecord, SlurmRecord
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.writer import write_json_record
from hrm_tui.cluster.batch_script import batch_script
from hrm_tui.cluster.profile import ClusterProfile
from hrm_tui.launch_plan import LaunchError, LaunchPlan

SBATCH_TIMEOUT_S = 60.0

# Words of sbatch's error -> the profile field it is about (the form marks that field; the CLI names it).
_FIELD_OF_ERROR = (
    ("partition", "partition"),
    ("--time", "time_limit"),
    ("time limit", "time_limit"),
    ("node count", "nodes"),
    ("node configuration", "nodes"),
    ("memory", "mem_per_node"),
    ("gres", "gpus_per_node"),
    ("gpu", "gpus_per_node"),
    ("account", "account"),
    ("qos", "qos"),
    ("cpus", "cpus_per_node"),
)


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    cluster: str | None
    run_dir: Path
    script: Path
    submit_time: float
    sbatch_s: float  # how long sbatch took to answer (the rest of the submission is this module's)


class SubmitError(LaunchError):
    """sbatch refused the job. `field` is the profile field its message is about, when one is named."""

    def __init__(self, message: str, field: str | None):
        super().__init__(message)
        self.field = field


def submit(plan: LaunchPlan, profile: ClusterProfile, *, resume: bool = False) -> SubmittedJob:
    """Writes the script into the run directory, submits it and records the job (module docstring)."""
    run_dir = plan.run_dir if plan.run_dir.is_absolute() else plan.cwd / plan.run_dir
    if not resume and ((run_dir / EVENTS_FILE).exists() or (run_dir / LAUNCH_FILE).exists()):
        raise LaunchError(f"{run_dir} already holds a run; choose another run_name or resume that run")
    script = batch_script(plan, profile)
    created = _make_dirs(run_dir)
    script_path = run_dir / BATCH_SCRIPT_FILE
    try:
        script_path.write_text(script, encoding="utf-8")
    except OSError as error:
        _undo(run_dir, created)
        raise LaunchError(f"cannot write the batch script {script_path}: {error}") from None
    argv = ["sbatch", "--parsable", str(script_path)]
    asked = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=plan.cwd, capture_output=True, text=True, errors="replace",
                              timeout=SBATCH_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        _undo(run_dir, created)
        why = "sbatch is not installed here" if isinstance(error, FileNotFoundError) else str(error)
        raise LaunchError(f"could not submit the job: {why}") from None
    job_id, _, cluster = done.stdout.strip().partition(";")
    if done.returncode != 0 or not job_id:
        _undo(run_dir, created)
        message = safe_text((done.stderr or done.stdout).strip(), multiline=True) or f"exit status {done.returncode}"
        field = _field_of(message, profile)
        about = f" (profile field {field})" if field else ""
        raise SubmitError(f"sbatch refused the job{about}: {message}", field)
    sbatch_s = time.perf_counter() - asked
    submitted = time.time()
    host = socket.gethostname()
    try:
        write_json_record(run_dir / SLURM_FILE, SlurmRecord(job_id=job_id, cluster=cluster or None,
                                                            profile=profile.to_json(), submit_time=submitted,
                                                            script=BATCH_SCRIPT_FILE, host=host))
        write_json_record(run_dir / LAUNCH_FILE, LaunchRecord(
            host=host, argv=argv, env=plan.env, cwd=str(plan.cwd), time=submitted, overrides=plan.overrides,
            options=plan.options.to_json(), resume=resume,
            config_dir=str(plan.config_dir) if plan.config_dir is not None else None))
    except RunDirError as error:
        raise LaunchError(f"submitted job {job_id}, but {error}") from None
    try:
        register_run(run_dir)
    except (OSError, RunDirError):
        pass  # the trainer registers it again when it starts
    return SubmittedJob(job_id=job_id, cluster=cluster or None, run_dir=run_dir, script=script_path,
                        submit_time=submitted, sbatch_s=sbatch_s)


def _field_of(message: str, profile: ClusterProfile) -> str | None:
    lowered = message.lower()
    if "processors requested" in lowered:  # SLURM says processors for both too many nodes and too many CPUs
        return "nodes" if profile.nodes > 1 or profile.cpus_per_node is None else "cpus_per_node"
    return next((field for words, field in _FIELD_OF_ERROR if words in lowered), None)


def _make_dirs(run_dir: Path) -> list[Path]:
    """Creates the run directory and its missing parents; returns those it created, deepest first."""
    missing = []
    folder = run_dir
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LaunchError(f"cannot create the run directory {run_dir}: {error}") from None
    return missing


def _undo(run_dir: Path, created: list[Path]) -> None:
    """Removes what a refused submission made: the script, empty logs, and the folders it created (if empty)."""
    (run_dir / BATCH_SCRIPT_FILE).unlink(missing_ok=True)
    for name in (STDOUT_FILE, STDERR_FILE):
        path = run_dir / name
        try:
            if path.stat().st_size == 0:
                path.unlink()
        except OSError:
            pass
    for folder in created:
        try:
            os.rmdir(folder)
        except OSError:
            break  # not empty (or not ours to remove): leave it and its parents
