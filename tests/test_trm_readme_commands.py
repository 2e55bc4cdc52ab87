"""The TRM README's training command lines, run unchanged through the real CLI, scaled down.

Each command below is TinyRecursiveModels' README's, with `pretrain.py` replaced by `-m hrm_core.pretrain`
(and `python` / `torchrun` by this interpreter). The test points its dataset folder at a tiny dataset (the
ARC and Sudoku ones built by TRM's own builders, tests/fixtures/trm_built; a tiny maze set from our
builder), runs 2 processes where the README runs 4 (2 cores), and appends size overrides (width, batch,
epochs, ACT steps) so it runs in seconds: every key and value of the README line is passed as written,
including torchrun's `--rdzv_backend=c10d --rdzv_endpoint=localhost:0 --nnodes=1` and `+run_name=`.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training_helpers import wire_events, trainer_env

TRM_BUILT = Path(__file__).parent / "fixtures" / "trm_built"

# The README's lines ("Experiments"), with `pretrain.py` -> `-m hrm_core.pretrain`.
README_COMMANDS = {
    "arc1": ("pretrain_att_arc1concept_4", "data/arc1concept-aug-1000", """
        torchrun --nproc-per-node 4 --rdzv_backend=c10d --rdzv_endpoint=localhost:0 --nnodes=1 -m hrm_core.pretrain \\
        arch=trm \\
        data_paths="[data/arc1concept-aug-1000]" \\
        arch.L_layers=2 \\
        arch.H_cycles=3 arch.L_cycles=4 \\
        +run_name=${run_name} ema=True"""),
    "sudoku_mlp": ("pretrain_mlp_t_sudoku", "data/sudoku-extreme-1k-aug-1000", """
        python -m hrm_core.pretrain \\
        arch=trm \\
        data_paths="[data/sudoku-extreme-1k-aug-1000]" \\
        evaluators="[]" \\
        epochs=50000 eval_interval=5000 \\
        lr=1e-4 puzzle_emb_lr=1e-4 weight_decay=1.0 puzzle_emb_weight_decay=1.0 \\
        arch.mlp_t=True arch.pos_encodings=none \\
        arch.L_layers=2 \\
        arch.H_cycles=3 arch.L_cycles=6 \\
        +run_name=${run_name} ema=True"""),
    "sudoku_att": ("pretrain_att_sudoku", "data/sudoku-extreme-1k-aug-1000", """
        python -m hrm_core.pretrain \\
        arch=trm \\
        data_paths="[data/sudoku-extreme-1k-aug-1000]" \\
        evaluators="[]" \\
        epochs=50000 eval_interval=5000 \\
        lr=1e-4 puzzle_emb_lr=1e-4 weight_decay=1.0 puzzle_emb_weight_decay=1.0 \\
        arch.L_layers=2 \\
        arch.H_cycles=3 arch.L_cycles=6 \\
        +run_name=${run_name} ema=True"""),
    "maze": ("pretrain_att_maze30x30", "data/maze-30x30-hard-1k", """
        torchrun --nproc-per-node 4 --rdzv_backend=c10d --rdzv_endpoint=localhost:0 --nnodes=1 -m hrm_core.pretrain \\
        arch=trm \\
        data_paths="[data/maze-30x30-hard-1k]" \\
        evaluators="[]" \\
        epochs=50000 eval_interval=5000 \\
        lr=1e-4 puzzle_emb_lr=1e-4 weight_decay=1.0 puzzle_emb_weight_decay=1.0 \\
        arch.L_layers=2 \\
        arch.H_cycles=3 arch.L_cycles=4 \\
        +run_name=${run_name} ema=True"""),
}
# Appended after the README's keys (later overrides win): sizes only.
SCALE_DOWN = ["arch.hidden_size=32", "arch.num_heads=2", "arch.expansion=2", "arch.halt_max_steps=2",
              "global_batch_size=8", "epochs=4", "eval_interval=2", "lr_warmup_steps=2"]


@pytest.fixture(scope="module")
def tiny_maze(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("maze") / "maze-10x10"
    subprocess.run([sys.executable, "-m", "hrm_core.data.build_maze_dataset", "--output-dir", str(out), "--grid-size", "10",
                    "--subsample-size", "16", "--test-size", "4", "--min-path-length", "8"], check=True, capture_output=True)
    return out


def readme_argv(name: str, dataset: Path) -> tuple[str, list[str]]:
    """(run name, argv): the README line with its dataset folder replaced, 2 processes for 4, scaled down."""
    run_name, folder, text = README_COMMANDS[name]
    text = text.replace("\\\n", " ")  # a shell joins backslash-continued lines
    words = shlex.split(text.replace("${run_name}", run_name).replace(folder, str(dataset)))
    if words[0] == "torchrun":
        words = [sys.executable, "-m", "torch.distributed.run", *words[1:]]
        words[words.index("--nproc-per-node") + 1] = "2"
    else:
        assert words[0] == "python"
        words[0] = sys.executable
    return run_name, words + SCALE_DOWN


@pytest.mark.parametrize("name", sorted(README_COMMANDS))
def test_readme_command_trains(name, tmp_path, tiny_maze):
    dataset = {"arc1": TRM_BUILT / "arc", "maze": tiny_maze}.get(name, TRM_BUILT / "sudoku")
    run_name, argv = readme_argv(name, dataset)
    result = subprocess.run(argv, cwd=tmp_path, env=trainer_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    # The README names no checkpoint_path: the run goes where the reference puts it, checkpoints/<project>/<run>.
    run_dir = tmp_path / "checkpoints" / f"{dataset.name.capitalize()}-ACT-torch" / run_name
    start = wire_events(run_dir, "run_start")[0]
    config = start["config"]
    assert config["arch"]["name"] == "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"
    assert config["data_paths"] == [str(dataset)] and config["data_path"] is None
    assert config["ema"] is True and config["run_name"] == run_name
    assert start["world_size"] == (2 if "torchrun" in README_COMMANDS[name][2] else 1)
    if name == "sudoku_mlp":
        assert config["arch"]["mlp_t"] is True and config["arch"]["pos_encodings"] == "none"
    losses = [e["metrics"]["lm_loss"] for e in wire_events(run_dir, "train")]
    assert losses and all(loss == loss and loss < 10 for loss in losses)  # finite
    assert len(wire_events(run_dir, "eval")) == 2  # epochs=4, eval_interval=2
    assert (run_dir / f"step_{wire_events(run_dir, 'run_end')[0]['step']}" / "model.pt").is_file()
