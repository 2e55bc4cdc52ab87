"""Stopping a run gracefully, and only that run: launched by this app or started by hand, alone or under torchrun.

Finding the run's processes (`find_run_processes`), before anything is asked or sent, is
`hrm_core.rundir.processes.find_trainer`: the same rule by which the list of runs calls a run alive (the
launcher's `launch.json`, else the owner lock's record of a trainer still setting up, else the newest
`run_start`/`resume`; a pid counts only with the recorded start time and command line). What it adds for
signalling: where a hand-started trainer is a torchrun worker, its parent torchrun is the run's root process.

Every pid is checked again to still be that process before each signal. Pids are reused, and a stale record
must never make us signal an unrelated process. Where the trainer cannot be identified from here (another
host, no start time in an older log, a command line that differs) the run is not stopped, and `StopError`
says why (find_trainer's reason), so the app can say it *before* asking for a confirmation.

**torchrun** starts each worker in a session of its own (torch.distributed.elastic: `start_new_session=True`),
so a signal to torchrun's process group never reaches the workers. The workers are therefore found among
torchrun's children (the program torchrun runs, with its arguments) and signalled themselves.

Stopping follows the trainer's contract (SIGINT or SIGTERM = finish the step, save a checkpoint, write
`run_end` with status `stopped`, exit 0; a second signal exits at once):

1. SIGINT to the trainer processes: each torchrun worker (torchrun itself is left alone: it would forward
   the signal, and each worker would see a *second* one and exit without its checkpoint; once the workers
   exit cleanly torchrun exits on its own), or the single trainer.
2. If any is still alive after `grace_s`: SIGTERM to each worker's own process group, and to the root
   (its recorded process group when this app launched it, else the process alone: a hand-started run shares
   its group with the user's shell pipeline).
3. After `kill_after_s` more: SIGKILL to the same.

`stop_run` returns only when every process is gone, or says which are left.

**A SLURM run** (it has `slurm.json`) is stopped through the scheduler, never by pids on this host
(`SlurmJob`, `_stop_slurm_job`):

1. `stop_request.json` is written into the run directory (hrm_core.rundir.records.StopRequest), so that a
   job cancelled before its trainer logs `run_end` reads as stopped, not failed;
2. a waiting job (queued, or a pending requeue) is cancelled (`scancel ID`): there is no trainer to save;
3. a running job's trainer gets SIGINT through the scheduler (`scancel --signal=INT ID`: every process of
   the job's steps, so torchrun and its workers; the trainer takes torchrun's forwarded copy as the same
   signal). SIGINT means "stop, do not requeue". When `run_end` is logged (or `grace_s` passes), the job is
   cancelled (`scancel ID`), which also drops a requeue that may be pending.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.events import RunEnd
from hrm_core.rundir.files import STOP_REQUEST_FILE
from hrm_core.rundir.processes import TrainerProcess, TrainerSource, find_trainer
from hrm_core.rundir.reader import read_head_and_tail
from hrm_core.rundir.records import StopRequest
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.scheduler import JobState, query_jobs
from hrm_core.rundir.summary import slurm_job_id
from hrm_core.rundir.writer import write_json_record

DEFAULT_GRACE_S = 120.0  # a checkpoint of a large model can take a while
DEFAULT_KILL_AFTER_S = 30.0


class StopError(Exception):
    """The run cannot be stopped from here; the message says why (and what the user can do instead)."""


@dataclass(frozen=True)
class RunProcesses:
    """The processes of a run: the root (the trainer, or torchrun) and, under torchrun, its workers."""

    root: TrainerProcess
    torchrun: bool
    launched: bool  # started by hrm-tui (launch.json), else by hand (the start event)

    def workers(self) -> list[TrainerProcess]:
        """torchrun's workers as they are now (each verified as it is found); [] for a single trainer."""
        if not self.torchrun or not self.root.alive():
            return []
        try:
            children = psutil.Process(self.root.pid).children(recursive=False)
        except psutil.Error:
            return []
        found = []
        for child in children:
            try:
                cmdline, create_time = tuple(child.cmdline()), child.create_time()
                # Its own session (torchrun's start_new_session), else the group it shares with torchrun.
                pgid = child.pid if os.getpgid(child.pid) == child.pid else None
            except (psutil.Error, OSError):
                continue
            if _runs_program_of(cmdline, self.root.cmdline):
                found.append(TrainerProcess(child.pid, pgid, create_time, cmdline))
        return found

    def alive(self) -> list[TrainerProcess]:
        return [p for p in (self.root, *self.workers()) if p.alive()]

    def describe(self) -> str:
        """`torchrun and its 2 workers on this host, started by hand`, for the confirmation."""
        if self.torchrun:
            workers = len(self.workers())
            what = f"torchrun and its {workers} worker{'s' if workers != 1 else ''} on this host"
        else:
            what = "the trainer"
        return f"{what}, {'launched by hrm-tui' if self.launched else 'started by hand'}"


@dataclass(frozen=True)
class SlurmJob:
    """A SLURM run's job, as the stop path sees it: stopped through the scheduler."""

    job_id: str
    state: JobState

    def describe(self) -> str:
        if self.state.waiting:
            return f"SLURM job {self.job_id}, {self.state}: it is cancelled (it has not started)"
        return f"SLURM job {self.job_id}, {self.state}: its trainer gets SIGINT through scancel, then the job is cancelled"


def find_run_processes(run_dir: str | os.PathLike[str]) -> RunProcesses | SlurmJob | None:
    """The run's live processes, verified (or its SLURM job while the scheduler has it queued or running);
    None when they are gone. Raises StopError, saying why, when the run's processes cannot be identified from
    here (another host, nothing recorded, an identity unsure, a scheduler that does not answer)."""
    job_id = slurm_job_id(run_dir)
    if job_id is not None:
        view = query_jobs([job_id])
        job = view.job(job_id)
        if job is None:
            if not view.reachable:
                raise StopError(f"SLURM job {job_id}: {view.note}; cancel it on the cluster with scancel {job_id}")
            return None
        return SlurmJob(job_id, job.state) if not job.state.ended else None
    trainer = find_trainer(run_dir)
    root = trainer.process
    if root is None:
        if trainer.alive is False:
            return None
        raise StopError(trainer.reason)
    if trainer.source is TrainerSource.LAUNCH_RECORD:
        return RunProcesses(root, _is_torchrun(root.cmdline), launched=True)
    parent = _torchrun_parent(root)
    if parent is not None:
        return RunProcesses(parent, torchrun=True, launched=False)
    return RunProcesses(root, torchrun=False, launched=False)


def find_run_process(run_dir: str | os.PathLike[str]) -> TrainerProcess | None:
    """The run's root process (the trainer, or torchrun), verified; None if it is gone. See find_run_processes."""
    processes = find_run_processes(run_dir)
    if isinstance(processes, SlurmJob):
        raise StopError(f"it runs as SLURM job {processes.job_id}: its processes are on the cluster's nodes")
    return processes.root if processes is not None else None


def stop_run(
    run_dir: str | os.PathLike[str],
    *,
    grace_s: float = DEFAULT_GRACE_S,
    kill_after_s: float = DEFAULT_KILL_AFTER_S,
    poll_s: float = 0.2,
    on_progress: Callable[[str], None] | None = None,
) -> str:
    """Stops the run gracefully, escalating as described above. Blocks until it is gone; returns what it did.

    Call it from a worker thread, not from the UI thread.
    """
    say = on_progress or (lambda _message: None)
    processes = find_run_processes(run_dir)
    if processes is None:
        return "the run's process is not running"
    if isinstance(processes, SlurmJob):
        return _stop_slurm_job(Path(run_dir), processes, grace_s=grace_s, kill_after_s=kill_after_s, poll_s=poll_s,
                               say=say)

    # The processes as they are now: a worker that exits is not replaced (torchrun restarts nothing by default),
    # and each one is re-verified before every signal.
    everyone = [processes.root, *processes.workers()]
    targets = everyone[1:] or [processes.root]
    say(f"sent SIGINT to {len(targets)} process(es); waiting up to {grace_s:.0f}s for a checkpoint")
    for process in targets:
        _signal(process, signal.SIGINT, group=False)
    if _wait_gone(everyone, grace_s, poll_s):
        return "stopped gracefully (SIGINT)"

    outcome = "stopped gracefully (SIGINT)"
    for sig, wait_s, then in ((signal.SIGTERM, kill_after_s, "stopped after SIGTERM"),
                              (signal.SIGKILL, 10.0, "killed (SIGKILL)")):
        left = [p for p in everyone if p.alive()]
        if not left:
            return outcome
        say(f"still running ({_pids(left)}): sent {sig.name}")
        for process in sorted(left, key=lambda p: p is processes.root):  # the workers first
            _signal(process, sig, group=process is not processes.root or processes.launched)
        outcome = then
        if _wait_gone(everyone, wait_s, poll_s):
            return outcome
    left = [p for p in everyone if p.alive()]
    return f"still running after SIGKILL: {_pids(left)}" if left else outcome


def _stop_slurm_job(run_dir: Path, job: SlurmJob, *, grace_s: float, kill_after_s: float, poll_s: float,
                    say: Callable[[str], None]) -> str:
    """Stops a SLURM run (module docstring): the stop request, SIGINT through the scheduler while it runs,
    then the job cancelled. Returns what it did; StopError when scancel refuses."""
    import socket

    asked = time.time()
    request = run_dir / STOP_REQUEST_FILE
    try:
        write_json_record(request, StopRequest(time=asked, job_id=job.job_id, host=socket.gethostname()))
    except RunDirError as error:
        raise StopError(f"cannot record the stop request: {error}") from None
    running = job.state is JobState.RUNNING
    try:  # SIGINT to a running job's trainer; a waiting job is simply cancelled
        _scancel(*(["--signal=INT"] if running else []), job.job_id)
    except StopError:
        request.unlink(missing_ok=True)  # nothing was stopped: a later end must not read as a stop
        raise
    done = f"cancelled the {job.state} job"
    if running:
        say(f"sent SIGINT to job {job.job_id}; waiting up to {grace_s:.0f}s for its checkpoint")
        ended = _wait_for(lambda: _ended_since(run_dir, asked) or _job_gone(job.job_id), grace_s, poll_s)
        done = "stopped gracefully (SIGINT through scancel)" if ended else f"no run_end after {grace_s:.0f}s: cancelled"
        try:
            _scancel(job.job_id)  # ends the job's leftovers and drops any pending requeue
        except StopError:
            if not _job_gone(job.job_id):  # scancel of a job that has just ended fails: that is no error
                raise
    if not _wait_for(lambda: _job_gone(job.job_id), kill_after_s, poll_s):
        return f"{done}; job {job.job_id} has not ended yet"
    return done


def _scancel(*args: str) -> None:
    try:
        done = subprocess.run(["scancel", *args], capture_output=True, text=True, errors="replace", timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise StopError(f"scancel {' '.join(args)} failed: {safe_text(error)}") from None
    if done.returncode != 0:
        raise StopError(f"scancel {' '.join(args)} failed: {safe_text(done.stderr.strip() or done.returncode)}")


def _ended_since(run_dir: Path, since: float) -> bool:
    """Whether the run logged `run_end` at or after `since` (the trainer saved its checkpoint and left)."""
    return any(isinstance(e, RunEnd) and e.time is not None and e.time >= since - 1.0
               for e in read_head_and_tail(run_dir).newest)


def _job_gone(job_id: str) -> bool:
    job = query_jobs([job_id]).job(job_id)
    return job is None or job.state.ended


def _wait_for(condition: Callable[[], bool], timeout_s: float, poll_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(max(poll_s, 0.2))  # each check may ask the scheduler: not more than five times a second
    return True


# --- finding the processes -------------------------------------------------------------------------------------


def _torchrun_parent(worker: TrainerProcess) -> TrainerProcess | None:
    """The torchrun that runs this worker, if it is one."""
    try:
        parent = psutil.Process(worker.pid).parent()
        if parent is None:
            return None
        cmdline = tuple(parent.cmdline())
        if not _is_torchrun(cmdline) or not _runs_program_of(worker.cmdline, cmdline):
            return None
        return TrainerProcess(parent.pid, None, parent.create_time(), cmdline)
    except psutil.Error:
        return None


def _runs_program_of(worker: tuple[str, ...], torchrun: tuple[str, ...]) -> bool:
    """Whether `worker` runs the program (and arguments) that `torchrun` was given: the worker is its
    interpreter and interpreter flags (`python -u`), then a tail of torchrun's own command line."""
    rest = list(worker[1:])
    while rest and rest[0].startswith("-") and rest[0] != "-m":
        rest.pop(0)
    return bool(rest) and len(rest) < len(torchrun) and list(torchrun[-len(rest):]) == rest


def _is_torchrun(cmdline: tuple[str, ...]) -> bool:
    head = cmdline[:3]
    return any(Path(part).name == "torchrun" for part in head) or "torch.distributed.run" in head


# --- signals ---------------------------------------------------------------------------------------------------


def _wait_gone(processes: list[TrainerProcess], timeout_s: float, poll_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        left = [p for p in processes if p.alive()]
        for process in processes:
            if process not in left:
                _reap(process.pid)
        if not left:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def _reap(pid: int) -> None:
    # If this app started the run, it is our child: collect its exit status so it does not stay a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _signal(process: TrainerProcess, sig: signal.Signals, *, group: bool) -> None:
    """Sends `sig` to the process (re-verified first), or to its process group when `group` and it has one."""
    if not process.alive():
        return
    try:
        if group and process.pgid is not None:
            os.killpg(process.pgid, sig)
        else:
            os.kill(process.pid, sig)
    except ProcessLookupError:
        pass


def _pids(processes: list[TrainerProcess]) -> str:
    return "pid " + ", ".join(str(p.pid) for p in processes)
