"""Time limits and preemption on a real SLURM cluster: a SIGTERM checkpoints, the job is requeued, the next
segment resumes, and the losses are step for step those of an uninterrupted run (bit-identical).

The signal comes when SLURM decides (the time-limit warning is checked every ~30 s), so the trainer holds at
one step until it arrives (`HRM_TEST_HOLD_AT_STEP`): the stop lands on that exact step however late it is.
A requeued job waits PENDING (reason BeginTime) for about two minutes; the tests release it with
`scontrol update JobId=N StartTime=now`.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from hrm_core.rundir import events
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_core.training.checkpoint import list_checkpoints
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


def _submit(cluster: SlurmCluster, folder: Path, run_dir: Path, overrides: list[str], *sbatch_lines: str) -> str:
    """Submits a requeueable batch job that runs the trainer with resume=auto through srun; returns its id."""
    script = folder / "job.sbatch"
    argv = [*pretrain_argv(overrides), "resume=auto"]
    lines = ["#!/bin/bash", "#SBATCH --requeue", "#SBATCH --open-mode=append", f"#SBATCH --output={folder}/slurm.out",
             "#SBATCH --job-name=hrm-requeue-test", *(f"#SBATCH {line}" for line in sbatch_lines),
             "srun " + shlex.join(argv)]
    script.write_text("\n".join(lines) + "\n")
    answer = cluster.run("sbatch", "--parsable", str(script), check=False)  # exports this environment (--export=ALL)
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.strip().split(";")[0]


def _squeue(cluster: SlurmCluster, job_id: str) -> str:
    return cluster.run("squeue", "-h", "-j", job_id, "-o", "%T %r", check=False).stdout.strip()


def _wait(condition, what: str, timeout_s: float, folder: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    out = folder / "slurm.out"
    raise AssertionError(f"timed out waiting for {what}; job output:\n{out.read_text()[-4000:] if out.exists() else '(none)'}")


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
    run_dir = tmp_path / "run"
    # SLURM's limits are whole minutes: a one-minute limit with the warning 55 s before it signals ~5-35 s in.
    job_id = _submit(slurm_cluster, tmp_path, run_dir, tiny_overrides(tiny_data, run_dir), "--time=0:01:00",
                     "--signal=TERM@55")
    _wait_requeued(slurm_cluster, job_id, tmp_path)
    assert [step for step, _ in list_checkpoints(run_dir)] == [HOLD_STEP]
    summary = summarize_run(run_dir)
    assert summary.requeue_pending and summary.requeues == 1, summary

    _release_and_finish(slurm_cluster, job_id, run_dir, tmp_path)
    _check_segments(run_dir, job_id, reference_losses, "requeued after segment 0")
    summary = summarize_run(run_dir)
    assert (summary.status, summary.requeue_pending, summary.requeues) == (RunStatus.FINISHED, False, 1)


def test_a_job_requeued_from_outside_resumes_exactly(slurm_cluster, tiny_data, reference_losses, tmp_path, monkeypatch):
    """Preemption with PreemptMode=REQUEUE does what `scontrol requeue <id>` does: SIGTERM, then requeue."""
    monkeypatch.setenv("HRM_TEST_HOLD_AT_STEP", str(HOLD_STEP))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = tmp_path / "run"
    job_id = _submit(slurm_cluster, tmp_path, run_dir, tiny_overrides(tiny_data, run_dir))
    _wait(lambda: (run_dir / "events.jsonl").exists() and HOLD_STEP - 1 in train_metrics_by_step(run_dir),
          f"the trainer to reach step {HOLD_STEP - 1}", 120, tmp_path)
    slurm_cluster.run("scontrol", "requeue", job_id)
    _wait_requeued(slurm_cluster, job_id, tmp_path)
    _release_and_finish(slurm_cluster, job_id, run_dir, tmp_path)
    _check_segments(run_dir, job_id, reference_losses, "being requeued by SLURM")

