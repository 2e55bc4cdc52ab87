"""The small JSON files of a run directory, as typed records: launch.json, command.json, the lock file,
slurm.json and stop_request.json.

Each is read with `hrm_core.rundir.reader.read_record`, which checks every field on its own: a field that
does not fit (`"pid": "abc"`, a nested value where a list belongs) is left out (None) and reported, the
others are kept. Every field therefore has a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from hrm_core.checking import Finite, JSONObject, Minimum

Pid = Annotated[int, Minimum(1)]


@dataclass(kw_only=True, slots=True)
class LaunchRecord:
    """`launch.json`: written by a launcher (hrm-tui) when it starts a run, before the trainer runs.

    Enough to find the process again and to check that a pid is still that process (pids are reused):
    `pid`/`pgid` of the launched process (torchrun or the trainer), its `create_time` and `cmdline`.
    """

    pid: Pid | None = None
    pgid: Pid | None = None
    create_time: float | None = None  # psutil's process start time, Unix seconds
    cmdline: list[str] | None = None
    host: str | None = None
    argv: list[str] | None = None
    env: dict[str, str] | None = None  # only the variables the launcher set
    cwd: str | None = None
    time: float | None = None  # when it was launched
    overrides: list[str] | None = None
    options: JSONObject | None = None  # the launcher's own options (processes per node, GPUs, ...)
    resume: bool | None = None  # launched to resume the run
    config_dir: str | None = None  # the extra Hydra config folder passed to the trainer as --config-dir


@dataclass(kw_only=True, slots=True)
class CommandRecord:
    """`command.json`: written by the trainer (rank 0) when the run starts: how it was started."""

    argv: list[str] | None = None
    overrides: list[str] | None = None
    cwd: str | None = None
    world_size: Annotated[int, Minimum(1)] | None = None
    python: str | None = None  # sys.executable


@dataclass(kw_only=True, slots=True)
class OwnerRecord:
    """The lock file's content: who holds the run directory (hrm_core.rundir.lock). Informative only: the
    lock itself is the `flock`, so a stale record left by a dead process decides nothing."""

    host: str | None = None
    pid: Pid | None = None
    start_time: float | None = None  # when the owner took the lock, Unix seconds
    argv: list[str] | None = None


@dataclass(kw_only=True, slots=True)
class RankFailure:
    """`failure_rank_<R>.json`: written by a rank whose run failed, before it exits (hrm_core.rundir.failures).

    Under torchrun only rank 0 writes events; when another rank fails, rank 0 usually fails next with a
    consequence ("Connection closed by peer"), and that is what its `run_end` records. This record keeps the
    failing rank's own error.
    """

    rank: Annotated[int, Minimum(0)] | None = None
    host: str | None = None
    pid: Pid | None = None
    time: Annotated[float, Finite()] | None = None  # when it failed, Unix seconds
    step: Annotated[int, Minimum(0)] | None = None
    error: str | None = None  # the exception text with its traceback


@dataclass(kw_only=True, slots=True)
class SlurmRecord:
    """`slurm.json`: written by hrm-tui when it submits the run to SLURM (hrm_tui.cluster.submit). A run
    directory that has it is judged by the scheduler's state of `job_id` and by its heartbeat, not by pids on
    this host (hrm_core.rundir.scheduler, summary.py)."""

    job_id: str | None = None  # what `sbatch --parsable` printed before any ';cluster' suffix
    cluster: str | None = None  # the cluster sbatch named, if it named one
    profile: JSONObject | None = None  # the ClusterProfile it was submitted with (its to_json)
    submit_time: Annotated[float, Finite()] | None = None  # when sbatch answered, Unix seconds
    script: str | None = None  # the batch script's file name in the run directory (job.sbatch)
    host: str | None = None  # where it was submitted from


@dataclass(kw_only=True, slots=True)
class StopRequest:
    """`stop_request.json`: written by the cockpit when the user stops a SLURM run (hrm_tui.runs.
    process_control), before it signals the job. The trainer owns events.jsonl, so a job cancelled before its
    trainer could log `run_end` (a queued job, a pending requeue) is told from a crash by this record."""

    time: Annotated[float, Finite()] | None = None
    job_id: str | None = None
    host: str | None = None
