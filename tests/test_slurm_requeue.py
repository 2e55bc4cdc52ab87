"""Time limits and preemption on a real SLURM cluster: a SIGTERM checkpoints, the job is requeued, the next
segment resumes, and the losses are step for step those of an uninterrupted run (bit-identical). The jobs are
submitted as the cockpit submits them (hrm_tui.cluster.submit, the generated batch script).

The signal comes when SLURM decides (the time-limit warning is checked every ~30 s), so the trainer holds at
one step until it arrives (`HRM_TEST_HOLD_AT_STEP`): the stop lands on that exact step however late it is.
A requeued job waits PENDING (reason BeginTime) for about two minutes; the tests release it with
`scontrol update JobId=N StartTime=now`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrm_core.rundir import events
from hrm_core.rundir.files import STDOUT_FILE
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_core.training.checkpoint import list_checkpoints
from hrm_core.training.signals import StopRequest
from hrm_core.training.slurm_requeue import SlurmJob, request_requeue
from hrm_tui.cluster.profile import ClusterProfile
from hrm_tui.cluster.submit import submit
from hrm_tui.launch_plan import LaunchOptions, plan_launch
from hrm_tui.monitoring.event_loader import EventLoader
from hrm_tui.monitoring.run_model import RunModel
from tests.slurm_cluster import SlurmCluster
from tests.training_helpers import (
    events_of, pretrain_argv, run_trainer, tiny_overrides, train_metrics_by_step, write_tiny_dataset,
)

HOLD_STEP = 37  # in the first pass of ~108 steps (the first evaluation's checkpoint is at step 55)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny-puzzles")


@pytest.fixture(scope="module")
def reference_losses(tiny_data, tmp_path_factory) -> dict[int, dict]:
    """The uninterrupted run's train metrics by step (run here, outside SLURM)."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir)))
    assert result.returncode == 0, result.stderr[-3000:]
    return train_metrics_by_step(run_dir)


def _submit(run_dir: Path, overrides: list[str], profile: ClusterProfile) -> str:
    """Submits the run as the cockpit does (hrm_tui.cluster.submit: the generated batch script, with --requeue,
    --signal=TERM@<requeue_warning_s> and resume=auto); returns the job id. sbatch exports this environment."""
    plan = plan_launch(overrides, LaunchOptions(slurm=profile), names=("requeue-tests", run_dir.name, str(run_dir)),
                       present={"project_name", "run_name", "checkpoint_path"}, cwd=run_dir.parent)
    return submit(plan, profile).job_id


def _runs_json(root: Path) -> dict:
    """`hrm-tui runs --json` for the one run under `root`."""
    result = subprocess.run([sys.executable, "-m", "hrm_tui", "runs", "--json", "--runs-root", str(root)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [run] = [json.loads(line) for line in result.stdout.splitlines()]
    return run


def _squeue(cluster: SlurmCluster, job_id: str) -> str:
    return cluster.run("squeue", "-h", "-j", job_id, "-o", "%T %r", check=False).stdout.strip()


def _wait(condition, what: str, timeout_s: float, folder: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    out = folder / STDOUT_FILE
    raise AssertionError(f"timed out waiting for {what}; job output:\n{out.read_text()[-4000:] if out.exists() else '(none)'}")


def _wait_for_step(run_dir: Path, step: int) -> None:
    _wait(lambda: (run_dir / "events.jsonl").exists() and step in train_metrics_by_step(run_dir),
          f"the trainer to reach step {step}", 120, run_dir)


def _wait_requeued(cluster: SlurmCluster, job_id: str, folder: Path) -> None:
    _wait(lambda: _squeue(cluster, job_id) == "PENDING BeginTime", f"job {job_id} to wait requeued (BeginTime)", 150,
          folder)


def _release_and_finish(cluster: SlurmCluster, job_id: str, run_dir: Path, folder: Path) -> None:
    # The second segment gets a time limit whose warning does not come during the test.
    cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now", "TimeLimit=10:00")

    def finished() -> bool:
        ends = events_of(run_dir, events.RunEnd) if (run_dir / "events.jsonl").exists() else []
        return bool(ends) and ends[-1].status == RunStatus.FINISHED and _squeue(cluster, job_id) == ""
    _wait(finished, f"job {job_id}'s second segment to finish the run", 180, folder)


def _check_segments(run_dir: Path, job_id: str, reference: dict[int, dict], reason_words: str) -> None:
    first_end = events_of(run_dir, events.RunEnd)[0]
    assert (first_end.status, first_end.step, first_end.requeue) == (RunStatus.STOPPED, HOLD_STEP, True)
    assert reason_words in first_end.reason and job_id in first_end.reason
    start, resume = events_of(run_dir, events.RunStart)[0], events_of(run_dir, events.Resume)[0]
    assert (start.job_id, start.job_segment) == (job_id, 0)
    assert (resume.job_id, resume.job_segment, resume.step) == (job_id, 1, HOLD_STEP)
    assert resume.source.endswith(f"step_{HOLD_STEP}")
    got = train_metrics_by_step(run_dir)
    assert sorted(got) == sorted(reference)
    assert all(got[step] == reference[step] for step in reference), "losses diverge across the job segments"


def test_time_limit_warning_requeues_the_job_and_the_next_segment_resumes_exactly(
        slurm_cluster, tiny_data, reference_losses, tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_TEST_HOLD_AT_STEP", str(HOLD_STEP))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = tmp_path / "runs" / "time-limit"
    # SLURM's limits are whole minutes, and slurmctld checks them (and sends the warning) every ~30 s: a signal
    # due at a fixed time after the start could come while the trainer still imports. So the job starts with
    # 10 minutes, and once the trainer holds at its step the limit drops to 2: the warning (115 s before it)
    # is then due, and comes at the next check, at most ~30 s later and well before the limit itself.
    profile = ClusterProfile(time_limit="10", requeue_warning_s=115)
    job_id = _submit(run_dir, tiny_overrides(tiny_data, run_dir), profile)
    _wait_for_step(run_dir, HOLD_STEP - 1)
    slurm_cluster.run("scontrol", "update", f"JobId={job_id}", "TimeLimit=2")
    _wait_requeued(slurm_cluster, job_id, run_dir)
    assert [step for step, _ in list_checkpoints(run_dir)] == [HOLD_STEP]
    # The cockpit's view of the wait: queued with the scheduler's reason, requeued once, never lost.
    waiting = _runs_json(run_dir.parent)
    assert (waiting["status"], waiting["scheduler_state"], waiting["reason"]) == ("queued", "queued", "BeginTime")
    assert (waiting["job_id"], waiting["requeues"], waiting["requeue_pending"]) == (job_id, 1, True)
    assert "requeued, waiting to run again (BeginTime)" in waiting["detail"]
    table = subprocess.run([sys.executable, "-m", "hrm_tui", "runs", "--runs-root", str(run_dir.parent)],
                           capture_output=True, text=True, timeout=60).stdout
    assert f"{job_id} queued BeginTime (squeue) requeued ×1" in table

    _release_and_finish(slurm_cluster, job_id, run_dir, run_dir)
    _check_segments(run_dir, job_id, reference_losses, "requeued after segment 0")
    summary = summarize_run(run_dir)
    assert (summary.status, summary.requeue_pending, summary.requeues) == (RunStatus.FINISHED, False, 1)
    # The monitor marks where the second segment began.
    model = RunModel(run_dir)
    EventLoader(run_dir, model).open()
    assert model.snapshot().segment_steps == (HOLD_STEP,)


def test_a_job_requeued_from_outside_resumes_exactly(slurm_cluster, tiny_data, reference_losses, tmp_path, monkeypatch):
    """Preemption with PreemptMode=REQUEUE does what `scontrol requeue <id>` does: SIGTERM, then requeue."""
    monkeypatch.setenv("HRM_TEST_HOLD_AT_STEP", str(HOLD_STEP))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = tmp_path / "runs" / "preempted"
    job_id = _submit(run_dir, tiny_overrides(tiny_data, run_dir), ClusterProfile())
    _wait_for_step(run_dir, HOLD_STEP - 1)
    slurm_cluster.run("scontrol", "requeue", job_id)
    _wait_requeued(slurm_cluster, job_id, run_dir)
    _release_and_finish(slurm_cluster, job_id, run_dir, run_dir)
    _check_segments(run_dir, job_id, reference_losses, "being requeued by SLURM")



def test_a_job_that_cannot_be_requeued_says_so_in_scontrols_words(slurm_cluster, monkeypatch):
    """`requeue: false` and the reason, never an exception: here a job id the controller does not know."""
    outcome = request_requeue(SlurmJob(job_id="987654", segment=0))
    assert not outcome.requeued
    assert "987654 could not be requeued (scontrol:" in outcome.reason and "resume=auto" in outcome.reason
    monkeypatch.setenv("PATH", "/nonexistent")
    outcome = request_requeue(SlurmJob(job_id="12", segment=0))
    assert not outcome.requeued and "scontrol is not on PATH" in outcome.reason


def test_under_slurm_sigterm_continues_later_and_sigint_stops_for_good():
    assert SlurmJob.from_environment({}) is None
    assert SlurmJob.from_environment({"SLURM_JOB_ID": "7", "SLURM_RESTART_COUNT": "2"}) == SlurmJob("7", 2)
    for signum, requeue_on_sigterm, later, for_good in ((signal.SIGTERM, True, True, False),
                                                        (signal.SIGTERM, False, False, False),
                                                        (signal.SIGINT, True, False, True)):
        stop = StopRequest(requeue_on_sigterm=requeue_on_sigterm).install()
        try:
            os.kill(os.getpid(), signum)
            deadline = time.monotonic() + 5
            while not stop.requested and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.uninstall()
        assert (stop.requested, stop.continue_later, stop.stop_for_good) == (True, later, for_good)
