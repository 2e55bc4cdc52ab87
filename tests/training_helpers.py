"""Helpers for tests of the trainer: tiny puzzle datasets in the original HRM format (no builder, no
download), the real trainer as a subprocess, its events, and real small file systems for fault tests.

The task is learnable but trivial: the label is the input with every token shifted by one (cyclically over
the non-pad tokens). Each group is one "source puzzle" with `augmentations` puzzles, each puzzle holding
1..`max_examples` examples, so the loader's group/puzzle/example packing is exercised.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hrm_core.data.format import BLANK_PUZZLE_NAME, DatasetMetadata
from hrm_core.rundir.events import Event, Train
from hrm_core.rundir.reader import read_events


def write_split(split_dir: Path, *, num_groups: int, augmentations: int, max_examples: int, seq_len: int,
                vocab_size: int, seed: int, first_puzzle_id: int = 1) -> list[int]:
    """Writes one split with the single set "all"; returns the puzzle ids used."""
    rng = np.random.default_rng(seed)
    inputs, labels, puzzle_identifiers, puzzle_indices, group_indices = [], [], [], [0], [0]
    puzzle_id = first_puzzle_id
    for _ in range(num_groups):
        for _ in range(augmentations):
            for _ in range(int(rng.integers(1, max_examples + 1))):
                x = rng.integers(1, vocab_size, size=seq_len)
                inputs.append(x)
                labels.append((x % (vocab_size - 1)) + 1)
            puzzle_identifiers.append(puzzle_id)
            puzzle_indices.append(len(inputs))
            puzzle_id += 1
        group_indices.append(len(puzzle_identifiers))
    split_dir.mkdir(parents=True, exist_ok=True)
    arrays = {
        "inputs": np.array(inputs, dtype=np.int32), "labels": np.array(labels, dtype=np.int32),
        "puzzle_identifiers": np.array(puzzle_identifiers, dtype=np.int32),
        "puzzle_indices": np.array(puzzle_indices, dtype=np.int32), "group_indices": np.array(group_indices, dtype=np.int32),
    }
    for name, array in arrays.items():
        np.save(split_dir / f"all__{name}.npy", array)
    return list(range(first_puzzle_id, puzzle_id))


def write_tiny_dataset(root: Path, *, seq_len: int = 16, vocab_size: int = 6, train_groups: int = 24, augmentations: int = 3,
                       max_examples: int = 3, test_groups: int = 6) -> Path:
    train_ids = write_split(root / "train", num_groups=train_groups, augmentations=augmentations, max_examples=max_examples,
                            seq_len=seq_len, vocab_size=vocab_size, seed=1)
    test_ids = write_split(root / "test", num_groups=test_groups, augmentations=1, max_examples=2, seq_len=seq_len,
                           vocab_size=vocab_size, seed=2, first_puzzle_id=train_ids[-1] + 1)
    num_ids = test_ids[-1] + 1
    for split, ids, groups in (("train", train_ids, train_groups), ("test", test_ids, test_groups)):
        examples = len(np.load(root / split / "all__inputs.npy"))
        DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=vocab_size, seq_len=seq_len,
                        num_puzzle_identifiers=num_ids, total_groups=groups, mean_puzzle_examples=examples / len(ids),
                        sets=["all"]).save(root / split)
    names = [BLANK_PUZZLE_NAME] + [f"puzzle_{i}" for i in range(1, num_ids)]
    (root / "identifiers.json").write_text(json.dumps(names))
    return root


# Overrides for a model small enough to train a few hundred steps in seconds on one CPU core.
TINY_ARCH = [
    "arch.hidden_size=32", "arch.num_heads=2", "arch.expansion=2", "arch.H_layers=1", "arch.L_layers=1",
    "arch.H_cycles=1", "arch.L_cycles=1", "arch.halt_max_steps=4", "arch.puzzle_emb_ndim=32",
]


# ---------------------------------------------------------------------------------------------------------
# Launching the real trainer as a subprocess


def tiny_overrides(data_path: Path, run_dir: Path, *extra: str, epochs: int = 20, eval_interval: int = 10) -> list[str]:
    """A complete command line for a run of ~100 steps of the tiny model on the tiny dataset."""
    return [
        f"data_path={data_path}", f"checkpoint_path={run_dir}", *TINY_ARCH,
        "global_batch_size=8", f"epochs={epochs}", f"eval_interval={eval_interval}", "lr=1e-3", "lr_warmup_steps=10",
        "log_interval=1", *extra,
    ]


def trainer_env(**extra: str) -> dict[str, str]:
    """The test machine's environment, with one compute thread per process (tiny models; shared CPUs)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def pretrain_argv(overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "hrm_core.pretrain", *overrides]


def torchrun_argv(nproc: int, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
            "-m", "hrm_core.pretrain", *overrides]


def run_trainer(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env or trainer_env(), capture_output=True, text=True, timeout=timeout)


def events_of(run_dir: Path, event_type: type[Event] | None = None) -> list[Event]:
    """The run's valid events (of one type), in file order; fails if any line of the log is invalid."""
    log = read_events(run_dir)
    assert not log.skipped, f"invalid lines in {run_dir}/events.jsonl: {dict(log.skipped)}"
    return [e for e in log if event_type is None or isinstance(e, event_type)]


def raw_events(run_dir: Path) -> list[dict]:
    """The log's lines as plain JSON objects (the wire format), every one of them whole."""
    data = (run_dir / "events.jsonl").read_bytes()
    assert data.endswith(b"\n"), "events.jsonl ends mid-line"
    return [json.loads(line) for line in data.splitlines()]


def wire_events(run_dir: Path, event_type: str) -> list[dict]:
    """The lines of one event type as plain JSON objects (the wire format users' tools read); every line of
    the log must also pass the reader's checks."""
    events_of(run_dir)
    return [e for e in raw_events(run_dir) if e.get("type") == event_type]


def train_metrics_by_step(run_dir: Path) -> dict[int, dict]:
    return {e.step: e.metrics for e in events_of(run_dir, Train)}


# ---------------------------------------------------------------------------------------------------------
# Real small file systems for fault tests (a full disk, a read-only mount)


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str = "3M"):
    """A real tmpfs of `size` mounted at `path` (CI runs as root). Skips the test, saying why, only where
    mounting is impossible (not root, no CAP_SYS_ADMIN in a container)."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip() or f"mount exited with {result.returncode}"
        message = f"cannot mount a tmpfs at {path} on this machine ({reason}); this fault test needs root"
        print(message, file=sys.stderr)
        pytest.skip(message)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def fill_disk(directory: Path, *, leave: int) -> Path:
    """A file that takes all the free space of `directory`'s file system but about `leave` bytes."""
    filler = directory / "filler"
    free = shutil.disk_usage(directory).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free - leave, 0))
    return filler
