"""A checkpoint written by the TinyRecursiveModels reference trainer (tests/fixtures/trm_reference_checkpoint/)
loads for `python -m hrm_core.evaluate checkpoint=...`, plain and `_orig_mod.`-prefixed, and evaluates to the
metrics the reference logged for it; and it starts a run with `load_checkpoint=`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hrm_core.config import compose, to_plain_dict, validate
from hrm_core.training.checkpoint import MODEL_FILE, latest_checkpoint
from tests.conftest import fixture_file
from tests.training_helpers import pretrain_argv, run_trainer, write_tiny_dataset

# The reference run's arch (tests/fixtures/trm_reference_checkpoint/README.md); arch=trm gives the rest.
REFERENCE_ARCH = [
    "arch=trm", "arch.hidden_size=16", "arch.num_heads=2", "arch.expansion=2", "arch.L_layers=1", "arch.H_cycles=2",
    "arch.L_cycles=2", "arch.halt_max_steps=4", "arch.puzzle_emb_ndim=16", "arch.puzzle_emb_len=2",
    "arch.forward_dtype=float32",
]
STEP = 22


@pytest.fixture(scope="module")
def reference_checkpoint() -> Path:
    return fixture_file(f"trm_reference_checkpoint/step_{STEP}")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny")


def reference_eval_metrics() -> dict[str, float]:
    line = fixture_file(f"trm_reference_checkpoint/reference_eval_step_{STEP}.jsonl").read_text().splitlines()[0]
    return json.loads(line)["metrics"]["all"]


def run_dir_with(weights: dict[str, torch.Tensor], run_dir: Path, data: Path) -> Path:
    """A run directory as the reference leaves it (its step_N weights file) with the run's config beside it."""
    run_dir.mkdir(parents=True)
    torch.save(weights, run_dir / f"step_{STEP}")
    config = validate(compose([*REFERENCE_ARCH, f"data_path={data}", "global_batch_size=8", "epochs=4", "eval_interval=2"]))
    (run_dir / "all_config.yaml").write_text(yaml.safe_dump(to_plain_dict(config), sort_keys=False))
    return run_dir / f"step_{STEP}"


@pytest.mark.parametrize("prefix", ["", "_orig_mod."], ids=["plain", "compiled"])
def test_evaluate_reproduces_the_references_evaluation(reference_checkpoint, tiny_data, tmp_path, prefix):
    state = torch.load(reference_checkpoint, weights_only=True)
    weights = run_dir_with({prefix + k: v for k, v in state.items()}, tmp_path / "run", tiny_data)
    result = run_trainer([sys.executable, "-m", "hrm_core.evaluate", f"checkpoint={weights}", "save_outputs=[]"],
                         timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / f"eval_step_{STEP}" / "eval_results.json").read_text())
    ours = summary["metrics"]["all"]
    for key, value in reference_eval_metrics().items():
        assert ours[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_load_checkpoint_starts_a_run_from_the_references_weights(reference_checkpoint, tiny_data, tmp_path):
    """With every learning rate 0 the run keeps the loaded weights exactly, so its checkpoint is the reference's."""
    run = tmp_path / "finetune"
    result = run_trainer(pretrain_argv([
        *REFERENCE_ARCH, f"data_path={tiny_data}", f"checkpoint_path={run}", f"load_checkpoint={reference_checkpoint}",
        "global_batch_size=8", "epochs=2", "eval_interval=2", "lr=0", "puzzle_emb_lr=0", "lr_warmup_steps=0",
    ]), timeout=300)
    assert result.returncode == 0, result.stderr
    saved = torch.load(latest_checkpoint(run) / MODEL_FILE, weights_only=True)
    reference = torch.load(reference_checkpoint, weights_only=True)
    assert saved.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(saved[key], value), key
