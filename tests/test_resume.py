"""Full-state checkpoints: bit-exact resume, atomic writes under kill -9, fine-tuning from weights, EMA."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from hrm_core.rundir import events
from hrm_core.rundir.files import LOCK_FILE
from hrm_core.rundir.status import RunStatus
from hrm_core.training.checkpoint import latest_checkpoint, list_checkpoints, load_model_state
from tests.training_helpers import (
    events_of, pretrain_argv, run_trainer, tiny_overrides, torchrun_argv, train_metrics_by_step, trainer_env,
    write_tiny_dataset,
)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny-puzzles")


@pytest.fixture(scope="module")
def reference_run(tiny_data, tmp_path_factory) -> Path:
    """An uninterrupted run with EMA on: ~108 steps, two evaluations, a checkpoint after each."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir, "ema=true", "ema_rate=0.9")))
    assert result.returncode == 0, result.stderr
    return run_dir


def _load(path: Path, name: str):
    return torch.load(path / name, weights_only=True)


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tiny_data, reference_run, tmp_path):
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(tiny_data, run_dir, "ema=true", "ema_rate=0.9")
    # Stop in the middle of the first pass (as SIGTERM would), then continue with resume=auto.
    stopped = run_trainer(pretrain_argv(overrides), env=trainer_env(HRM_TEST_STOP_AT_STEP="37"))
    assert stopped.returncode == 0, stopped.stderr
    assert events_of(run_dir, events.RunEnd)[-1].status == RunStatus.STOPPED
    assert [step for step, _ in list_checkpoints(run_dir)] == [37]
    resumed = run_trainer(pretrain_argv([*overrides, "resume=auto"]))
    assert resumed.returncode == 0, resumed.stderr

    expected, got = train_metrics_by_step(reference_run), train_metrics_by_step(run_dir)
    assert sorted(got) == sorted(expected)
    assert all(got[step] == expected[step] for step in expected), "losses diverge after the resume"
    final_step, final = list_checkpoints(reference_run)[-1]
    resumed_final = run_dir / final.name
    for name in ("model.pt", "training_state.pt"):
        a, b = _load(final, name), _load(resumed_final, name)
        weights_a = a if name == "model.pt" else a["train_weights"]
        weights_b = b if name == "model.pt" else b["train_weights"]
        assert weights_a.keys() == weights_b.keys()
        assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a), f"{name} differs"

    # One event log: the resumed run appended to it and marked the resume.
    kinds = [type(e) for e in events_of(run_dir)]
    assert kinds.count(events.RunStart) == 1 and kinds.count(events.Resume) == 1
    resume = events_of(run_dir, events.Resume)[0]
    assert resume.step == 37 and resume.source.endswith("step_37")
    assert resume.run_name == events_of(run_dir, events.RunStart)[0].run_name  # the run keeps its name


def test_resume_under_torchrun_reproduces_the_uninterrupted_run(tiny_data, tmp_path):
    """Two processes (gloo): each rank restores its own carry and generators."""
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    for run_dir, env in ((reference, trainer_env()), (interrupted, trainer_env(HRM_TEST_STOP_AT_STEP="61"))):
        result = run_trainer(torchrun_argv(2, tiny_overrides(tiny_data, run_dir)), env=env, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
    assert [step for step, _ in list_checkpoints(interrupted)] == [55, 61]  # eval checkpoint, then the stop
    result = run_trainer(torchrun_argv(2, [*tiny_overrides(tiny_data, interrupted), "resume=auto"]), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert train_metrics_by_step(interrupted) == train_metrics_by_step(reference)
    final = list_checkpoints(reference)[-1][1].name
    a, b = _load(reference / final, "model.pt"), _load(interrupted / final, "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ema_weights_are_what_checkpoints_and_eval_use(reference_run):
    step, path = list_checkpoints(reference_run)[-1]
    model = _load(path, "model.pt")
    state = _load(path, "training_state.pt")
    train_weights, shadow = state["train_weights"], state["ema"]["shadow"]
    dense_keys = [k for k in model if not k.endswith("puzzle_emb.weights")]
    assert 0 < len(shadow) <= len(dense_keys)  # parameters only; buffers (H_init, L_init) are not averaged
    differing = [k for k in dense_keys if not torch.equal(model[k], train_weights[k])]
    assert differing, "model.pt should hold the EMA weights, not the training weights"
    assert torch.equal(model["model.inner.puzzle_emb.weights"], train_weights["model.inner.puzzle_emb.weights"])


def test_load_checkpoint_of_a_run_directory_takes_its_newest_checkpoint(reference_run):
    newest = list_checkpoints(reference_run)[-1][1]
    from_run, from_folder = load_model_state(reference_run), load_model_state(newest)
    assert from_run.keys() == from_folder.keys() and all(torch.equal(from_run[k], from_folder[k]) for k in from_run)


def test_kill_during_a_checkpoint_write_leaves_the_previous_one_loadable(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(tiny_data, run_dir, "checkpoint_interval=20")
    process = subprocess.Popen(pretrain_argv(overrides), env=trainer_env(HRM_TEST_CHECKPOINT_PAUSE_AT_STEP="40"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    half_written = run_dir / ".tmp_step_40"
    try:
        deadline = time.time() + 90
        while not (half_written / "training_state.pt").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert (half_written / "training_state.pt").exists(), "the trainer never reached the checkpoint of step 40"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)

    assert latest_checkpoint(run_dir) == run_dir / "step_20"
    for name in ("model.pt", "training_state.pt", "rank_0.pt"):
        assert _load(run_dir / "step_20", name)  # loads with weights_only=True
    assert not (run_dir / "step_40").exists()
    assert not isinstance(events_of(run_dir)[-1], events.RunEnd)  # no run_end: the run is "lost"
    # Its lock file still names the killed trainer: that stale record must not block the resume.
    assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == process.pid

    resumed = run_trainer(pretrain_argv([*overrides, "resume=auto"]))
    assert resumed.returncode == 0, resumed.stderr
    assert events_of(run_dir, events.Resume)[0].step == 20
    assert not half_written.exists()  # cleaned up at start
    assert events_of(run_dir, events.RunEnd)[-1].status == RunStatus.FINISHED


def test_load_checkpoint_fine_tunes_from_weights_of_another_dataset(reference_run, tmp_path):
    # Another dataset with more puzzle identifiers: the embedding table is re-initialised to the old mean.
    other = write_tiny_dataset(tmp_path / "other-puzzles", train_groups=30)
    source = list_checkpoints(reference_run)[-1][1]
    # A bare weights file in the original's layout as saved from a torch.compile'd model.
    bare = tmp_path / "original_style_weights"
    torch.save({f"_orig_mod.{k}": v for k, v in _load(source, "model.pt").items()}, bare)

    runs = {}
    for label, extra in (("fresh", []), ("folder", [f"load_checkpoint={source}"]), ("bare", [f"load_checkpoint={bare}"])):
        run_dir = tmp_path / label
        result = run_trainer(pretrain_argv(tiny_overrides(other, run_dir, *extra, epochs=2, eval_interval=2)))
        assert result.returncode == 0, result.stderr
        runs[label] = run_dir
    for label in ("folder", "bare"):
        start = events_of(runs[label], events.RunStart)[0]
        assert any("re-initialised" in note for note in start.notes), start.notes
        # The loaded model already knows the task: its first loss is far below a fresh model's.
        assert train_metrics_by_step(runs[label])[1]["lm_loss"] < 0.7 * train_metrics_by_step(runs["fresh"])[1]["lm_loss"]


def test_resume_refuses_a_changed_run_shape_and_a_missing_checkpoint(tiny_data, reference_run, tmp_path):
    checkpoint = list_checkpoints(reference_run)[-1][1]
    events_before = len(events_of(reference_run))
    changed = [o.replace("global_batch_size=8", "global_batch_size=16") for o in tiny_overrides(tiny_data, reference_run)]
    result = run_trainer(pretrain_argv([*changed, "ema=true", f"resume={checkpoint}"]))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "global_batch_size: 8 -> 16" in result.stderr and "load_checkpoint=" in result.stderr
    assert len(events_of(reference_run)) == events_before  # the run's log is untouched

    result = run_trainer(pretrain_argv([*tiny_overrides(tiny_data, tmp_path / "run"), f"resume={tmp_path / 'nowhere'}"]))
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
