"""Graceful stop on SIGTERM (to the trainer and to torchrun) and the handling of a non-finite loss."""

from __future__ import annotations

import math
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hrm_core.rundir import events
from hrm_core.rundir.status import RunStatus
from hrm_core.training.checkpoint import latest_checkpoint, list_checkpoints
from tests.training_helpers import (
    events_of, pretrain_argv, raw_events, run_trainer, tiny_overrides, torchrun_argv, trainer_env, write_tiny_dataset,
)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny-puzzles")


def _signal_when_training(argv: list[str], run_dir: Path, sig: int) -> subprocess.CompletedProcess:
    """Starts a long run, sends `sig` once it has trained a few steps, and waits for it to exit."""
    process = subprocess.Popen(argv, env=trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(events_of(run_dir, events.Train)) < 5:
            time.sleep(0.05)
        assert events_of(run_dir, events.Train), "the run never started training"
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=90)
    finally:
        process.kill()
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _check_stopped_with_checkpoint(run_dir: Path) -> None:
    end = events_of(run_dir, events.RunEnd)[-1]
    assert end.status == RunStatus.STOPPED
    checkpoint = events_of(run_dir, events.Checkpoint)[-1]
    assert checkpoint.step == end.step and latest_checkpoint(run_dir) == Path(checkpoint.path)
    assert end.step < events_of(run_dir, events.RunStart)[0].total_steps


def test_sigterm_stops_gracefully_with_a_checkpoint(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    result = _signal_when_training(pretrain_argv(tiny_overrides(tiny_data, run_dir, epochs=2000, eval_interval=1000)), run_dir, signal.SIGTERM)
    assert result.returncode == 0, result.stderr
    assert "SIGTERM received" in result.stderr
    _check_stopped_with_checkpoint(run_dir)


def test_sigterm_to_torchrun_stops_every_rank_gracefully(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    argv = torchrun_argv(2, tiny_overrides(tiny_data, run_dir, epochs=2000, eval_interval=1000))
    _signal_when_training(argv, run_dir, signal.SIGTERM)
    # torchrun itself reports the signal it got with a non-zero status; the workers stopped cleanly.
    _check_stopped_with_checkpoint(run_dir)
    last = latest_checkpoint(run_dir)
    assert (last / "rank_0.pt").is_file() and (last / "rank_1.pt").is_file()


def test_nonfinite_loss_stops_the_run_and_keeps_the_checkpoint_before_it(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir, "checkpoint_interval=20")),
                         env=trainer_env(HRM_TEST_NONFINITE_AT_STEP="30"))
    assert result.returncode == 1
    assert "non-finite loss at step 30" in result.stderr and "Traceback" not in result.stderr
    nonfinite = events_of(run_dir, events.NonFinite)
    assert len(nonfinite) == 1 and nonfinite[0].step == 30 and nonfinite[0].action == "stop"
    assert math.isnan(nonfinite[0].metrics["lm_loss"])
    assert next(e for e in raw_events(run_dir) if e["type"] == "nonfinite")["metrics"]["lm_loss"] == "nan"  # strict JSON
    end = events_of(run_dir, events.RunEnd)[-1]
    assert end.status == RunStatus.FAILED and "non-finite loss at step 30" in end.error
    assert [step for step, _ in list_checkpoints(run_dir)] == [20]
    assert max(e.step for e in events_of(run_dir, events.Train)) == 29  # the bad step never became a train event


def test_nonfinite_loss_can_be_skipped_when_configured(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir, "on_nonfinite=continue", "checkpoint_interval=10",
                                                      "keep_last_checkpoints=2")),
                         env=trainer_env(HRM_TEST_NONFINITE_AT_STEP="30"))
    assert result.returncode == 0, result.stderr
    nonfinite = events_of(run_dir, events.NonFinite)
    assert len(nonfinite) == 1 and nonfinite[0].action == "continue"
    assert events_of(run_dir, events.RunEnd)[-1].status == RunStatus.FINISHED
    assert all(math.isfinite(e.metrics["lm_loss"]) for e in events_of(run_dir, events.Train))
    assert len(list_checkpoints(run_dir)) == 2  # keep_last_checkpoints pruned the older ones
