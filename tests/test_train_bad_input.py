"""User mistakes around the trainer's files: a broken dataset, weights that are not weights or do not fit, a
resume that points at a file. Each is one message naming the file and the fix, exit code 2, and nothing is
written to the run directory. Plus the model without puzzle embedding (arch.puzzle_emb_ndim=0) trains.

The mistakes run `hrm_core.pretrain.main` in-process (they end before training starts); the runs that
train are real subprocesses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hrm_core.rundir import events
from hrm_core.rundir.status import RunStatus
from hrm_core.pretrain import EXIT_CONFIG_ERROR, main
from hrm_core.models.registry import build_model
from hrm_core.training.checkpoint import list_checkpoints
from tests.training_helpers import (
    TINY_ARCH, events_of, pretrain_argv, run_trainer, tiny_overrides, trainer_env, write_tiny_dataset,
)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny")


def _config_error(capsys, overrides: list[str]) -> str:
    assert main(overrides) == EXIT_CONFIG_ERROR
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return captured.err


def _tiny_weights(path: Path, *, hidden_size: int = 32) -> Path:
    """A bare weights file as the original saves them (a state dict), of the tiny model at `hidden_size`."""
    arch = {"name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "loss": {"name": "losses@ACTLossHead"},
            "halt_exploration_prob": 0.1, "halt_max_steps": 4, "H_cycles": 1, "L_cycles": 1, "H_layers": 1,
            "L_layers": 1, "hidden_size": hidden_size, "num_heads": 2, "expansion": 2, "puzzle_emb_ndim": hidden_size,
            "pos_encodings": "rope"}
    module = build_model(arch, batch_size=8, seq_len=16, vocab_size=6, num_puzzle_identifiers=100)
    torch.save(module.state_dict(), path)
    return path


def subprocess_run(overrides: list[str], **env: str):
    return run_trainer(pretrain_argv(overrides), env=trainer_env(**env))


def test_a_broken_dataset_is_a_config_error_before_anything_is_written(capsys, tiny_data, tmp_path):
    broken = tmp_path / "broken"
    write_tiny_dataset(broken)
    (broken / "test" / "all__labels.npy").unlink()
    run_dir = tmp_path / "run"
    error = _config_error(capsys, tiny_overrides(broken, run_dir))
    assert f"{broken / 'test' / 'all__labels.npy'} is missing" in error and "docs/datasets.md" in error
    assert not run_dir.exists()


def test_load_checkpoint_that_is_not_weights_or_does_not_fit(capsys, tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    not_weights = tiny_data / "train" / "dataset.json"
    error = _config_error(capsys, tiny_overrides(tiny_data, run_dir, f"load_checkpoint={not_weights}"))
    assert f"{not_weights} is not readable as model weights" in error and "load_checkpoint takes" in error

    wider = _tiny_weights(tmp_path / "step_100", hidden_size=64)
    error = _config_error(capsys, tiny_overrides(tiny_data, run_dir, f"load_checkpoint={wider}"))
    assert f"{wider}: its puzzle embedding has width 64, this model 32" in error

    deeper = tiny_overrides(tiny_data, run_dir, f"load_checkpoint={_tiny_weights(tmp_path / 'step_200')}", "arch.H_layers=2")
    error = _config_error(capsys, deeper)
    assert "does not fit the model of this config: missing model.inner.H_level.layers.1." in error
    assert not run_dir.exists()


def test_resume_from_a_file_names_the_folder_it_needs(capsys, tiny_data, tmp_path):
    weights = _tiny_weights(tmp_path / "model.pt")
    error = _config_error(capsys, tiny_overrides(tiny_data, tmp_path / "run", f"resume={weights}"))
    assert f"{weights} is a file; a checkpoint is a step_<N>/ folder" in error and "load_checkpoint=PATH" in error


def test_resume_auto_finds_the_run_by_its_name_and_checks_it_up_front(capsys, tiny_data, tmp_path, monkeypatch):
    """Without checkpoint_path, run_name fixes the run directory (checkpoints/<project>/<run>), so
    resume=auto looks there, and checks the run's shape before anything starts."""
    monkeypatch.chdir(tmp_path)
    overrides = [o for o in tiny_overrides(tiny_data, tmp_path) if not o.startswith("checkpoint_path=")] + ["run_name=r1"]
    stopped = subprocess_run(overrides, HRM_TEST_STOP_AT_STEP="3")
    run_dir = tmp_path / "checkpoints" / "Tiny ACT-torch" / "r1"
    assert [step for step, _ in list_checkpoints(run_dir)] == [3], stopped.stderr
    checkpoint = Path("checkpoints") / "Tiny ACT-torch" / "r1" / "step_3"
    error = _config_error(capsys, [*overrides, "resume=auto", "seed=5"])
    assert f"cannot resume from {checkpoint}: seed: 0 -> 5" in error
    # Turning EMA on needs an average to continue: refused up front, and the run's log stays untouched.
    events_before = len(events_of(run_dir))
    error = _config_error(capsys, [*overrides, "resume=auto", "ema=true"])
    assert f"cannot resume from {checkpoint} with ema=true: it was written without an EMA" in error
    assert len(events_of(run_dir)) == events_before


def test_a_model_without_puzzle_embedding_trains(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    overrides = [o for o in tiny_overrides(tiny_data, run_dir, epochs=2, eval_interval=1) if o not in TINY_ARCH]
    overrides += [o for o in TINY_ARCH if not o.startswith("arch.puzzle_emb_ndim=")] + ["arch.puzzle_emb_ndim=0"]
    result = subprocess_run(overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    assert events_of(run_dir, events.RunStart)[0].num_puzzle_emb_params == 0
    assert events_of(run_dir, events.RunEnd)[-1].status == RunStatus.FINISHED
    checkpoint = list_checkpoints(run_dir)[-1][1]
    weights = torch.load(checkpoint / "model.pt", weights_only=True)
    assert not any("puzzle_emb" in key for key in weights)
    assert len(torch.load(checkpoint / "training_state.pt", weights_only=True)["optimizers"]) == 1  # AdamATan2 only
