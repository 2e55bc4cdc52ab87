"""What state a run is in: `summarize_run(run_dir)` -> `RunSummary`, and whether a directory holds a run.

The status comes from three sources, because no one of them is enough:

- the event log says how a run ended (`run_end` with finished, failed or stopped) and how far it got;
- whether the trainer is alive: `hrm_core.rundir.processes.judge_trainer`, the same rule Stop uses (the
  launcher's `launch.json`, the owner lock, the pid in the newest `run_start`/`resume`);
- whether it makes progress: the newest heartbeat's progress time and `stall_after_s` (stall.py).

    finished / stopped / failed   the newest lifecycle event is a run_end with that status
    failed                        launched, but the process exited before the trainer logged its start
    running                       alive, and progress within stall_after_s
    stalled                       alive (or, when it cannot be checked from here, still beating), but no
                                  progress for longer than stall_after_s
    lost                          no run_end and the process is gone; or it cannot be checked from here
                                  and no event arrived for `stale_after_s`
    queued                        a SLURM job that waits (queued, or requeued and waiting to run again)

A run submitted to SLURM (it has `slurm.json`) is judged by its job's state (hrm_core.rundir.scheduler) and
its heartbeat instead of pids on this host (`_judge_slurm_run`): a waiting job is queued, never lost; a running
job is running or stalled by its heartbeat; a job that ended without `run_end` failed (or was stopped, when
the cockpit asked for it: `stop_request.json`). A list passes one `SchedulerView` for all its runs.

Only the head and the tail of the event log are read, so a run that logged a million events costs the same
as a fresh one. Nothing here raises for anything a run directory holds.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from hrm_core.formatting import format_duration, format_local_time
from hrm_core.rundir.checkpoints import list_checkpoints
from hrm_core.rundir.events import (
    START_TYPES,
    Checkpoint,
    Eval,
    Event,
    Halting,
    Heartbeat,
    Phase,
    RunEnd,
    Samples,
    Train,
)
from hrm_core.rundir.failures import root_cause
from hrm_core.rundir.files import COMMAND_FILE, LAUNCH_FILE, SLURM_FILE, STDERR_FILE, STOP_REQUEST_FILE
from hrm_core.rundir.line_times import split_line_time
from hrm_core.rundir.lock import LockState, lock_state, read_owner
from hrm_core.rundir.processes import judge_launch, judge_trainer, newest_start, process_matches  # noqa: F401 (re-exported)
from hrm_core.rundir.reader import read_head_and_tail, read_record, read_text_tail
from hrm_core.rundir.records import CommandRecord, LaunchRecord, SlurmRecord, StopRequest
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.scheduler import JobInfo, JobSource, JobState, SchedulerView, is_job_id, query_jobs
from hrm_core.rundir.stall import STALL_FLOOR_S, WARMUP_ALLOWANCE_S
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.sweeps import SweepMember

# When the process cannot be checked from here, a run whose newest event is older than this (or than three
# heartbeat intervals, if longer) counts as lost. The trainer beats every heartbeat_interval_s (default 30).
DEFAULT_STALE_AFTER_S = 180.0

_PROGRESS_TYPES = (Train, Eval, Halting, Samples, Checkpoint)


@dataclass
class RunSummary:
    """Everything a list of runs shows about one run.

    `name` and `detail` are for display and already sanitised (hrm_core.rundir.sanitize); every other
    string is as found in the files (the overrides are used to relaunch the run): sanitise before showing.
    """

    path: Path
    name: str  # the run directory relative to the runs root, e.g. "Sudoku-extreme-1k-aug-1000 ACT-torch/cool-cat"
    preset: str | None  # the `experiment` preset it was launched with, if any
    status: RunStatus
    step: int | None = None
    total_steps: int | None = None  # the step the run ends at, as far as it is known (`shown_total_steps`)
    start_time: float | None = None  # Unix seconds
    last_event_time: float | None = None  # newest event of any type (heartbeats included)
    last_progress_time: float | None = None  # last optimizer step, eval batch or checkpoint file
    phase: Phase | None = None  # what the trainer was doing at its newest heartbeat
    stall_after_s: float | None = None  # the limit `stalled` is decided by
    pid: int | None = None  # the launched process (torchrun or the trainer), from launch.json or the start event
    host: str | None = None
    overrides: list[str] = field(default_factory=list)  # the Hydra overrides it was launched with
    detail: str = ""  # why the status is what it is, when that is not obvious (e.g. an error's last line)
    error: str = ""  # a failed run's error with its traceback (sanitised, multi-line): the first rank that failed
    failed_rank: int | None = None  # which rank that was, when the run recorded it (torchrun)
    skipped_lines: int = 0  # invalid lines among those read (head and tail of the log)
    sweep: SweepMember | None = None  # the sweep it belongs to (hrm_core/rundir/sweeps.py); its name is as found
    # A SLURM run's job (slurm.json) as the scheduler sees it (hrm_core.rundir.scheduler); None/"" otherwise.
    job_id: str | None = None
    scheduler_state: JobState | None = None  # None: the scheduler does not know the job (or is unreachable)
    reason: str = ""  # why a queued job waits (Priority, Resources, BeginTime, ...)
    expected_start: float | None = None  # a queued job's expected start, when the scheduler gives one
    nodes: str = ""  # the job's node list
    scheduler_source: JobSource | None = None  # what the job's state was read from
    # SLURM requeues: `requeues` counts the job segments after the first (the newest start's segment, plus one
    # while a requeue is pending); `requeue_pending` is set while the newest event is a run_end that says the
    # job was requeued: the run is not over, whatever the scheduler now says of the job decides its status.
    requeues: int = 0
    requeue_pending: bool = False

    @property
    def progress(self) -> float | None:
        """Fraction of planned steps done, in [0, 1], or None when unknown."""
        if self.step is None or not self.total_steps:
            return None
        return max(0.0, min(1.0, self.step / self.total_steps))

    @property
    def is_active(self) -> bool:
        return self.status.is_active


def summarize_run(
    run_dir: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    now: float | None = None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    scheduler: SchedulerView | None = None,
) -> RunSummary:
    """Summarises one run directory. `root` only shapes the displayed name (a relative path). `scheduler`:
    the view of every listed run's job, queried once per refresh; without one, a SLURM run's job is queried
    on its own."""
    run_dir = Path(run_dir)
    now = time.time() if now is None else now
    launch_read = read_record(run_dir / LAUNCH_FILE, LaunchRecord)
    launch = launch_read.record
    command = read_record(run_dir / COMMAND_FILE, CommandRecord).record
    log = read_head_and_tail(run_dir)

    first_start = next((e for e in log.head if isinstance(e, START_TYPES)), None)
    overrides = next((o for o in (launch and launch.overrides, command and command.overrides,
                                  first_start and first_start.overrides) if o is not None), [])
    summary = RunSummary(path=run_dir, name=safe_text(display_name(run_dir, root)), preset=preset_from_overrides(overrides),
                         status=RunStatus.RUNNING, overrides=list(overrides), skipped_lines=sum(log.skipped.values()))
    summary.start_time = (first_start.time if first_start else None) or (launch.time if launch else None)
    summary.sweep = (SweepMember.of(first_start.sweep, first_start.sweep_index, first_start.sweep_size) if first_start
                     else None) or (SweepMember.from_env(launch.env) if launch is not None and launch.env else None)
    summary.total_steps = first_start.total_steps if first_start else None
    final_step = first_start.final_step if first_start else None

    # Walk the newest events in file order: position, progress, and whether the last lifecycle event is an end.
    start = first_start  # the newest run_start/resume: the session now running (or the last one)
    end: RunEnd | None = None
    heartbeat: Heartbeat | None = None
    trained = False  # a train event since the newest start
    for event in log.newest:
        summary.last_event_time = event.time  # the newest written (file order)
        step = getattr(event, "step", None)
        if step is not None:
            summary.step = step
        if isinstance(event, (Train, *START_TYPES)) and event.total_steps is not None:
            summary.total_steps = event.total_steps
        if isinstance(event, START_TYPES) and event.final_step is not None:
            final_step = event.final_step
        if isinstance(event, START_TYPES):
            start, end, heartbeat, trained = event, None, None, False  # a start after a run_end: going again
            summary.last_progress_time = event.time
        elif isinstance(event, RunEnd):
            end = event
        elif isinstance(event, Heartbeat):
            heartbeat = event
            if event.progress_time is not None:
                summary.last_progress_time = max(summary.last_progress_time or 0.0, event.progress_time)
        elif isinstance(event, _PROGRESS_TYPES):
            trained = trained or isinstance(event, Train)
            summary.last_progress_time = max(summary.last_progress_time or 0.0, event.time)
    summary.total_steps = shown_total_steps(final_step=final_step, estimate=summary.total_steps, end=end)
    if start is not None:
        summary.pid, summary.host = start.pid, start.host
        summary.job_id, summary.requeues = start.job_id, start.job_segment or 0
    if launch is not None and launch.pid is not None:
        summary.pid, summary.host = launch.pid, launch.host or summary.host
    if heartbeat is not None:
        summary.phase = heartbeat.phase
        summary.stall_after_s = heartbeat.stall_after_s
    if summary.stall_after_s is None:
        summary.stall_after_s = STALL_FLOOR_S if trained else WARMUP_ALLOWANCE_S

    if end is not None and end.requeue:  # the session ended, the run did not: its job was requeued
        summary.requeue_pending, summary.requeues = True, summary.requeues + 1

    job_id = slurm_job_id(run_dir)
    if job_id is not None:
        view = scheduler if scheduler is not None else query_jobs([job_id])
        _judge_slurm_run(summary, run_dir, job_id, view, start=start, end=end, heartbeat=heartbeat, now=now,
                         stale_after_s=stale_after_s)
        return summary

    lock = lock_state(run_dir)
    if end is not None:
        if _going_again(run_dir, lock, launch, end):
            summary.status, summary.detail = RunStatus.RUNNING, "resuming"
            return summary
        summary.status = end.status
        if end.status in (RunStatus.FAILED, RunStatus.STOPPED):
            _explain_failure(summary, run_dir, start, end)
        _explain_requeue(summary, end)
        return summary

    alive = judge_trainer(run_dir, launch=launch, start=newest_start(log), lock=lock).alive
    if alive is None:  # cannot be checked from here: is it still beating?
        newest = summary.last_event_time or summary.start_time
        interval = heartbeat.interval_s if heartbeat is not None and heartbeat.interval_s else 0.0
        alive = newest is not None and now - newest < max(stale_after_s, 3 * interval)
        if not alive:
            summary.detail = "no event for a long time and its process cannot be checked from this host"
    if alive:
        _check_progress(summary, now)
    elif start is None and launch is not None and launch.pid is not None:
        # The process exited before the trainer logged its start: a config or import error. Its stderr says why.
        summary.status = RunStatus.FAILED
        rank, line = error_line_of_log(read_text_tail(run_dir / STDERR_FILE, max_bytes=STDERR_TAIL_BYTES))
        summary.failed_rank = rank
        summary.detail = (f"rank {rank}: {line}" if rank is not None else line) or "exited before training started"
    else:
        summary.status = RunStatus.LOST
        summary.detail = summary.detail or "the process is gone and the run never logged its end"
    if launch_read.problems and start is None:  # what launch.json could not say (a pid that is not a number...)
        problems = safe_text("; ".join(launch_read.problems))
        summary.detail = f"{summary.detail}; {LAUNCH_FILE} is unusable ({problems})" if launch is None or launch.pid is None \
            else f"{summary.detail}; {LAUNCH_FILE}: {problems}"
    return summary


def slurm_job_id(run_dir: str | os.PathLike[str]) -> str | None:
    """The job id of a run submitted to SLURM (its slurm.json), else None (also for an id that is not one:
    nothing from a run directory reaches squeue or scancel unchecked)."""
    record = read_record(Path(run_dir) / SLURM_FILE, SlurmRecord).record
    return record.job_id if record is not None and is_job_id(record.job_id) else None


def _judge_slurm_run(summary: RunSummary, run_dir: Path, job_id: str, view: SchedulerView, *, start: Event | None,
                     end: RunEnd | None, heartbeat: Heartbeat | None, now: float, stale_after_s: float) -> None:
    """The status of a run submitted to SLURM, from its job's state and its events (module docstring)."""
    job = view.job(job_id)
    summary.job_id = job_id
    summary.pid = summary.host = None  # pids on a compute node mean nothing here
    if job is None:
        summary.scheduler_source = JobSource.EVENTS
    else:
        _show_job(summary, job)
        if job.state.waiting:
            summary.status = RunStatus.QUEUED
            summary.detail = _waiting_detail(job, ran_before=start is not None)
            return
        if job.state is JobState.RUNNING and end is not None and _started_after(job, end):
            summary.status, summary.detail = RunStatus.RUNNING, "resuming"  # a requeued job, before its `resume`
            return
        if job.state is JobState.RUNNING and end is None:
            _check_progress(summary, now)  # the job runs: the heartbeat says whether its trainer makes progress
            return
    if end is not None:
        summary.status = end.status
        if end.status in (RunStatus.FAILED, RunStatus.STOPPED):
            _explain_failure(summary, run_dir, start, end)
        _explain_requeue(summary, end)
        return
    if job is not None:  # the job ended (or is ending) and the trainer never logged its end
        stop = read_record(run_dir / STOP_REQUEST_FILE, StopRequest).record
        # A request counts only for the job it was made for: a run resubmitted after a stop has a new job.
        if stop is not None and stop.job_id in (None, job_id):
            summary.status = RunStatus.STOPPED
            summary.detail = f"job {job_id} cancelled on request ({job.slurm_state}) before the trainer logged its end"
            return
        summary.status = RunStatus.FAILED
        how = "hit its time limit" if job.state is JobState.TIMEOUT else f"ended {job.slurm_state}"
        rank, line = error_line_of_log(read_text_tail(run_dir / STDERR_FILE, max_bytes=STDERR_TAIL_BYTES))
        summary.failed_rank = rank
        summary.detail = f"job {job_id} {how} without the run logging its end" + (f": {line}" if line else "")
        return
    # The scheduler does not know the job: the run's own events decide.
    newest = summary.last_event_time or summary.start_time
    if newest is None:
        summary.status = RunStatus.QUEUED if not view.reachable else RunStatus.LOST
        summary.detail = (f"submitted as job {job_id}; {view.note or 'scheduler not reachable from here'}"
                          if not view.reachable else f"job {job_id} is unknown to the scheduler and the run logged nothing")
        return
    interval = heartbeat.interval_s if heartbeat is not None and heartbeat.interval_s else 0.0
    if now - newest < max(stale_after_s, 3 * interval):
        _check_progress(summary, now)
    else:
        summary.status = RunStatus.LOST
        summary.detail = f"job {job_id} is unknown to the scheduler here and no event came for a long time"


def _explain_requeue(summary: RunSummary, end: RunEnd) -> None:
    """A session stopped by SIGTERM under SLURM says whether (and why not) its job was requeued."""
    if end.requeue is not None and summary.status is RunStatus.STOPPED and end.reason:
        summary.detail = safe_text(end.reason)


def _show_job(summary: RunSummary, job: JobInfo) -> None:
    summary.scheduler_state = job.state
    summary.scheduler_source = job.source
    summary.reason = job.reason
    summary.nodes = job.nodes
    summary.expected_start = job.expected_start if job.state.waiting else None


def _started_after(job: JobInfo, end: RunEnd) -> bool:
    """A running job that started after the run's last end: a requeued job going again."""
    return job.expected_start is not None and end.time is not None and job.expected_start > end.time


def _waiting_detail(job: JobInfo, *, ran_before: bool) -> str:
    """`job 12 waiting (Resources) expected start ...`; a job whose run already started was requeued."""
    what = "requeued, waiting to run again" if job.state is JobState.REQUEUED or ran_before else "waiting"
    parts = [f"job {job.job_id} {what}"]
    if job.reason:
        parts.append(f"({job.reason})")
    if job.expected_start is not None:
        parts.append(f"expected start {format_local_time(job.expected_start, '%Y-%m-%d %H:%M')}")
    return " ".join(parts)


def shown_total_steps(*, final_step: int | None, estimate: int | None, end: RunEnd | None) -> int | None:
    """The step total to show beside a run's step (runs table, `hrm-tui runs`, the monitor's progress bar).

    The start event's `total_steps` is the originals' estimate, kept for the learning-rate schedule; a run
    stops a few steps short of it (each walk drops its incomplete batch). Shown is what is true: the
    `final_step` the trainer counted from the data; for a run that does not record it (older runs, or one
    too large to count), the step it finished at once it has finished, and the estimate until then.
    """
    if final_step is not None:
        return final_step
    if end is not None and end.status is RunStatus.FINISHED and end.step is not None:
        return end.step
    return estimate


def _explain_failure(summary: RunSummary, run_dir: Path, start: Event | None, end: RunEnd) -> None:
    """The detail and error of a failed session: the first rank that failed (failures.py), else run_end's error.
    A session that ended `stopped` while one of its ranks failed (torchrun stopped rank 0) failed."""
    failure = root_cause(run_dir, since=start.time if start is not None else None,
                         run_end_error=end.error if end.status is RunStatus.FAILED else None)
    if failure is None:
        return
    summary.status = RunStatus.FAILED
    summary.failed_rank = failure.rank
    summary.error = safe_text(failure.error, multiline=True)
    line = _last_line(failure.error)
    summary.detail = f"rank {failure.rank}: {line}" if failure.rank is not None else line


def _check_progress(summary: RunSummary, now: float) -> None:
    """running, or stalled when the last progress is older than stall_after_s."""
    summary.status = RunStatus.RUNNING
    reference = summary.last_progress_time or summary.start_time
    if reference is None or summary.stall_after_s is None or now - reference <= summary.stall_after_s:
        return
    summary.status = RunStatus.STALLED
    since = format_local_time(reference, "%H:%M:%S")
    where = f" in {summary.phase}" if summary.phase is not None else ""
    at = f" at step {summary.step}" if summary.step is not None else ""
    summary.detail = (f"no progress for {format_duration(now - reference)} (since {since}{where}{at}; "
                      f"stall_after_s={summary.stall_after_s:g})")


def _going_again(run_dir: Path, lock: LockState, launch: LaunchRecord | None, end: RunEnd) -> bool:
    """A run that ended and has been started again, before its new session logged `resume`."""
    if lock is LockState.HELD:
        owner = read_owner(run_dir)
        # The lock is released only after run_end is written: an owner from before the end is that session.
        return owner is not None and owner.start_time is not None and owner.start_time > end.time
    relaunched = launch is not None and launch.time is not None and launch.time > end.time
    return relaunched and judge_launch(launch).alive is True


def holds_run(run_dir: str | os.PathLike[str]) -> str | None:
    """Why `run_dir` already holds a run (events of a run, or checkpoints), or None when it holds none.

    A launcher's launch.json, stdout.log and stderr.log alone do not make a run: the launcher writes them
    before the trainer starts.
    """
    run_dir = Path(run_dir)
    checkpoints = list_checkpoints(run_dir)
    if checkpoints:
        names = ", ".join(path.name for _, path in checkpoints[-3:])
        return f"it holds {len(checkpoints)} checkpoint(s) ({names})"
    head = read_head_and_tail(run_dir, tail_bytes=0).head
    start = next((e for e in head if isinstance(e, START_TYPES)), None)
    if start is not None:
        started = format_local_time(start.time) if start.time else "at an unknown time"
        return f"its events.jsonl records a run started {started}"
    if head:
        return "its events.jsonl records events of a run"
    return None


def preset_from_overrides(overrides: list[str]) -> str | None:
    """The value of an `experiment=` / `+experiment=` override, the way presets are selected."""
    for override in overrides:
        key, sep, value = override.lstrip("+~").partition("=")
        if sep and key == "experiment":
            return value
    return None


def display_name(run_dir: Path, root: str | os.PathLike[str] | None) -> str:
    """The run directory relative to the runs root (its own name without one). Not sanitised."""
    if root is not None:
        try:
            return run_dir.resolve().relative_to(Path(root).resolve()).as_posix()
        except (ValueError, OSError, RuntimeError):
            pass
    return run_dir.name


STDERR_TAIL_BYTES = 64 * 1024
_RANK_PREFIX = re.compile(r"^\[(?:default)?rank(\d+)\]:\s?")  # torchrun's prefix on a worker's lines
_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b|error:)")
_LAUNCHER_ERROR = "torch.distributed.elastic.multiprocessing.errors.ChildFailedError"


def error_line_of_log(text: str) -> tuple[int | None, str]:
    """The line of a captured stderr that says why the process failed, and the torchrun rank it came from.

    The last line of an exception (`ValueError: ...`, the trainer's `error: ...`) wins over what follows it:
    torchrun ends a failed run with its own summary (`ChildFailedError`, rules of `=` and `-`), which names the
    failing rank but not its error. Without such a line, the last non-blank one. Sanitised."""
    candidates: list[tuple[int | None, str]] = []
    for raw in safe_text(text, multiline=True).split("\n"):
        raw = split_line_time(raw)[1]  # the trainer's own lines start with their time
        match = _RANK_PREFIX.match(raw)
        rank = int(match.group(1)) if match else None
        line = raw[match.end():].strip() if match else raw.strip()
        if line and not line.startswith(_LAUNCHER_ERROR) and _ERROR_LINE.match(line):
            candidates.append((rank, line))
    if candidates:
        return candidates[-1]
    return None, _last_line(text)


def _last_line(text: str) -> str:
    """The last non-blank line of a text from a file, sanitised first (so a planted CR or another separator
    does not choose which line is last)."""
    lines = [split_line_time(line)[1].strip() for line in safe_text(text, multiline=True).split("\n") if line.strip()]
    return lines[-1] if lines else ""
