"""Records the originals' own training runs on CPU as test fixtures: tests/fixtures/trainer_parity/*.json.

    python tools/record_trainer_trajectories.py --hrm PATH/TO/HRM --trm PATH/TO/TinyRecursiveModels

`--hrm` and `--trm` are checkouts (or extracted archives) of github.com/sapientinc/HRM and
github.com/SamsungSAILMontreal/TinyRecursiveModels; the committed fixtures came from HRM @ 42410da and
TinyRecursiveModels @ e7b6871. `--only CASE` records one case; `--write-dataset` first rewrites the tiny
dataset the cases train on (tests/fixtures/trainer_parity/dataset, deterministic; the fixtures must then be
re-recorded). The originals need, besides this project's dependencies: pip install pydantic argdantic
coolname tqdm.

Each case runs the original's `pretrain.py` with the case's overrides (the same command line the parity
test gives `python -m hrm_core.pretrain`, tests/test_trainer_parity.py), in one process or under
torchrun with gloo, and keeps what it logs: the train metrics of every step and the eval metrics of every
evaluation. The originals need CUDA, flash-attn, the adam-atan2 CUDA extension and wandb; the run uses a
copy of the tree where only these are replaced: "cuda" devices become "cpu" (NCCL becomes gloo),
`flash_attn_func` is PyTorch's SDPA with the same [batch, seq, heads, dim] layout, `AdamATan2` is the
adam-atan2 package's update in plain PyTorch, and `wandb.log` appends its arguments to a JSON-lines file.
Data sampling, the schedule, the model, the loss and evaluation are the original's own code. Nothing of
the originals is written into this repository: the copy lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "trainer_parity"
DATASET = FIXTURES / "dataset"
DATASET_PLACEHOLDER = "{dataset}"  # the overrides name the dataset folder by this placeholder
# Pins the CPU code paths of PyTorch's vectorised kernels and of MKL's matrix products to AVX2, so the
# recorded numbers are the same on every x86-64 CPU with AVX2 (an AVX-512 machine would otherwise sum in
# another order). Recorded into each fixture; the parity test runs our trainer under the same settings.
CPU_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "OMP_NUM_THREADS": "1"}

# A model small enough for a few hundred steps in seconds, shared by the cases.
_TINY = ["arch.hidden_size=32", "arch.num_heads=2", "arch.expansion=2", "arch.puzzle_emb_ndim=32",
         "arch.halt_max_steps=4", "global_batch_size=8", "lr_warmup_steps=10"]
# HRM: 3 passes of 10 epochs, an evaluation after each. The Q head starts halting sequences early after
# ~20 steps, so the exploration stream matters from then on.
_HRM = ["data_path={dataset}", *_TINY, "lr=1e-3", "arch.H_layers=1", "arch.L_layers=1", "arch.H_cycles=1", "arch.L_cycles=1",
        "epochs=30", "eval_interval=10", "+arch.forward_dtype=float32"]
# TRM: the README's form (arch=trm, data_paths, evaluators, ema), with an EMA evaluation after passes 2 and
# 3 only (min_eval_interval=1), so the eval loader's draw happens after training has gone on. At lr=1e-2
# its Q head starts halting sequences early after ~45 steps (at 1e-3 not within the run).
_TRM = ["arch=trm", "data_paths=[{dataset}]", "evaluators=[]", *_TINY, "lr=1e-2", "arch.L_layers=1", "arch.H_cycles=2",
        "arch.L_cycles=2", "arch.puzzle_emb_len=2", "arch.forward_dtype=float32", "epochs=30", "eval_interval=10",
        "min_eval_interval=1", "ema=True", "ema_rate=0.95"]


@dataclass(frozen=True)
class Case:
    reference: str  # "HRM" or "TRM"
    nproc: int
    overrides: list[str]


CASES = {
    "hrm_1proc": Case("HRM", 1, _HRM),
    "hrm_2proc": Case("HRM", 2, _HRM),
    "trm_1proc": Case("TRM", 1, _TRM),
    "trm_2proc": Case("TRM", 2, _TRM),
}


# ---------------------------------------------------------------------------------------------------------
# The dataset

def write_dataset(root: Path) -> None:
    """A tiny puzzle dataset in the originals' format (both read it; TRM's loader needs total_puzzles).

    The label is the input with every token moved up by one (5 wraps to 1): learnable in a few hundred
    steps, so losses fall and the Q head starts halting. Half the train groups hold one puzzle of 2-3
    examples, the other half 2-3 puzzles of one example, so the sampler's group, puzzle and example draws
    all matter, and the step estimate (from the mean examples per *puzzle*) falls short of the batches an
    epoch has (one puzzle per *group*): the last pass has batches past total_steps, which the TRM
    reference's EMA still counts.
    """
    rng = np.random.default_rng(12345)
    seq_len, vocab_size = 16, 6
    shutil.rmtree(root, ignore_errors=True)
    next_id = 1
    for split, groups in (("train", 16), ("test", 6)):
        inputs, puzzle_ids, puzzle_indices, group_indices = [], [], [0], [0]
        for group in range(groups):
            if split == "test":
                sizes = [int(rng.integers(1, 3))]
            elif group % 2 == 0:
                sizes = [int(rng.integers(2, 4))]
            else:
                sizes = [1] * int(rng.integers(2, 4))
            for size in sizes:
                for _ in range(size):
                    inputs.append(rng.integers(1, vocab_size, size=seq_len))
                puzzle_ids.append(next_id)
                puzzle_indices.append(len(inputs))
                next_id += 1
            group_indices.append(len(puzzle_ids))
        x = np.array(inputs, dtype=np.uint8)
        arrays = {"inputs": x, "labels": (x % (vocab_size - 1) + 1).astype(np.uint8),
                  "puzzle_identifiers": np.array(puzzle_ids, dtype=np.int32),
                  "puzzle_indices": np.array(puzzle_indices, dtype=np.int32),
                  "group_indices": np.array(group_indices, dtype=np.int32)}
        (root / split).mkdir(parents=True)
        for name, array in arrays.items():
            np.save(root / split / f"all__{name}.npy", array)
        metadata = {"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": vocab_size,
                    "seq_len": seq_len, "num_puzzle_identifiers": None, "total_groups": groups,
                    "mean_puzzle_examples": len(inputs) / len(puzzle_ids), "total_puzzles": len(puzzle_ids),
                    "sets": ["all"]}
        (root / split / "dataset.json").write_text(json.dumps(metadata))
    for split in ("train", "test"):  # one puzzle-id space for both splits
        path = root / split / "dataset.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {"num_puzzle_identifiers": next_id}, indent=1))
    (root / "identifiers.json").write_text(json.dumps(["<blank>"] + [f"puzzle_{i}" for i in range(1, next_id)]))


# ---------------------------------------------------------------------------------------------------------
# Running an original on CPU

# Exact replacements in the original's pretrain.py; each must occur (else the tree is not the expected one).
_CPU_EDITS = [
    ('"cuda"', '"cpu"'),
    (".cuda()", ".cpu()"),
    ("pin_memory=True", "pin_memory=False"),
    ('dist.init_process_group(backend="nccl")', 'dist.init_process_group(backend="gloo")'),
    ('torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))', "pass"),
]

_FLASH_ATTN = '''
import torch.nn.functional as F


def flash_attn_func(q, k, v, causal=False):
    # flash-attn takes [batch, seq, heads, dim]; SDPA [batch, heads, seq, dim].
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
    return out.transpose(1, 2)
'''

_ADAM_ATAN2 = '''
import math

import torch


class AdamATan2(torch.optim.Optimizer):
    """The adam-atan2 package's update: decoupled decay, Adam moments, atan2 in place of the division."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                t = state["step"]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                state["m"].lerp_(p.grad, 1 - beta1)
                state["v"].lerp_(p.grad.square(), 1 - beta2)
                denominator = state["v"].sqrt() / math.sqrt(1 - beta2 ** t)
                p.add_(torch.atan2(state["m"], denominator), alpha=-group["lr"] / (1 - beta1 ** t))
'''

_WANDB = '''
import json
import math
import os

run = None
_log = open(os.environ["RECORD_METRICS_TO"], "a")


class Settings:
    def __init__(self, **kwargs):
        pass


def init(**kwargs):
    pass


def finish():
    _log.close()


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    value = float(value)
    return value if math.isfinite(value) else str(value)


def log(metrics, step=None):
    _log.write(json.dumps({"step": step, "metrics": _plain(metrics)}) + "\\n")
    _log.flush()
'''


def run_original(tree: Path, case: Case, dataset: Path, metrics_file: Path) -> None:
    """Runs the original's pretrain.py from a CPU copy of `tree`; its wandb.log calls land in metrics_file."""
    with tempfile.TemporaryDirectory(prefix="original-") as work:
        copy = Path(work) / "tree"
        shutil.copytree(tree, copy, ignore=shutil.ignore_patterns(".git", "data", "checkpoints", "wandb", "outputs"))
        pretrain = copy / "pretrain.py"
        source = pretrain.read_text()
        for old, new in _CPU_EDITS:
            if old not in source:
                sys.exit(f"{tree / 'pretrain.py'} has no {old!r}: not the trainer this tool knows (HRM @ 42410da, "
                         "TinyRecursiveModels @ e7b6871)")
            source = source.replace(old, new)
        pretrain.write_text(source)
        shims = Path(work) / "shims"
        shims.mkdir()
        for name, text in (("flash_attn", _FLASH_ATTN), ("adam_atan2", _ADAM_ATAN2), ("wandb", _WANDB)):
            (shims / f"{name}.py").write_text(textwrap.dedent(text))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shims), os.environ.get("PYTHONPATH", "")]),
                   DISABLE_COMPILE="1", RECORD_METRICS_TO=str(metrics_file), **CPU_ENV)
        launcher = [sys.executable] if case.nproc == 1 else [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={case.nproc}"]
        overrides = [o.replace(DATASET_PLACEHOLDER, str(dataset)) for o in case.overrides]
        metrics_file.write_text("")
        subprocess.run([*launcher, "pretrain.py", *overrides, f"+checkpoint_path={Path(work) / 'run'}"],
                       cwd=copy, env=env, check=True)


def trajectory(metrics_file: Path) -> tuple[dict[str, dict[str, float]], list[dict]]:
    """(train metrics per step, without the `train/` prefix; evaluations in order, each {step, sets})."""
    train: dict[str, dict[str, float]] = {}
    evals = []
    for line in metrics_file.read_text().splitlines():
        record = json.loads(line)
        metrics = record["metrics"]
        if any(k.startswith("train/") for k in metrics):
            train[str(record["step"])] = {k.removeprefix("train/"): v for k, v in metrics.items() if k != "train/lr"}
        elif any(isinstance(v, dict) for v in metrics.values()):
            evals.append({"step": record["step"], "sets": {k: v for k, v in metrics.items() if isinstance(v, dict)}})
    return train, evals


def tree_commit(tree: Path) -> str | None:
    result = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hrm", type=Path, help="checkout of sapientinc/HRM")
    parser.add_argument("--trm", type=Path, help="checkout of SamsungSAILMontreal/TinyRecursiveModels")
    parser.add_argument("--only", choices=sorted(CASES), action="append", help="record only this case (repeatable)")
    parser.add_argument("--out", type=Path, default=FIXTURES, help="fixture folder (default: tests/fixtures/trainer_parity)")
    parser.add_argument("--write-dataset", action="store_true", help="rewrite the tiny dataset first")
    args = parser.parse_args()
    if args.write_dataset:
        write_dataset(DATASET)
    trees = {"HRM": args.hrm, "TRM": args.trm}
    for name in args.only or sorted(CASES):
        case = CASES[name]
        tree = trees[case.reference]
        if tree is None or not (tree / "pretrain.py").is_file():
            sys.exit(f"{name} needs --{case.reference.lower()} pointing at a checkout with pretrain.py")
        with tempfile.TemporaryDirectory() as work:
            metrics_file = Path(work) / "metrics.jsonl"
            print(f"[record] {name}: {case.reference} original, {case.nproc} process(es)", flush=True)
            run_original(tree, case, DATASET, metrics_file)
            train, evals = trajectory(metrics_file)
        fixture = {
            "case": name, "reference": case.reference, "reference_commit": tree_commit(tree), "nproc": case.nproc,
            "overrides": case.overrides, "cpu_env": CPU_ENV, "torch": _version("torch"), "numpy": np.__version__,
            "train": train, "eval": evals,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{name}.json").write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"[record] {name}: {len(train)} train steps, {len(evals)} evaluations -> {args.out / (name + '.json')}")
    return 0


def _version(module: str) -> str:
    return __import__(module).__version__


if __name__ == "__main__":
    sys.exit(main())
