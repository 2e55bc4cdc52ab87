"""Benchmark: the training loop's throughput next to the bare training step (`hrm_core.bench step`).

    python -m hrm_core.bench loop --size tiny      # CPU-sized
    python -m hrm_core.bench loop --size sudoku    # the published Sudoku setup (a GPU)

Writes a random dataset of the bench size's shape (seq_len, vocab, batch) into a temporary folder, runs
`python -m hrm_core.pretrain` on it with the bench size's architecture, reads the steady-state examples/s from
its train events (the median over logging windows, the first ones skipped as warm-up), runs `hrm_core.bench
step` for the same size, and prints both and the ratio. A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from hrm_core.data.format import BLANK_PUZZLE_NAME, IDENTIFIERS_FILE, DatasetMetadata
from hrm_core.rundir.events import Train
from hrm_core.rundir.reader import read_events


def write_random_dataset(root: Path, *, examples: int, seq_len: int, vocab_size: int, num_puzzles: int) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", examples), ("test", max(examples // 20, 1))):
        directory = root / split
        directory.mkdir(parents=True)
        per_puzzle = max(count // num_puzzles, 1)
        puzzles = count // per_puzzle
        count = puzzles * per_puzzle
        arrays = {
            "inputs": rng.integers(1, vocab_size, (count, seq_len), dtype=np.int32),
            "labels": rng.integers(1, vocab_size, (count, seq_len), dtype=np.int32),
            "puzzle_identifiers": (np.arange(puzzles, dtype=np.int32) % (num_puzzles - 1)) + 1,
            "puzzle_indices": np.arange(0, count + 1, per_puzzle, dtype=np.int32),
            "group_indices": np.arange(puzzles + 1, dtype=np.int32),
        }
        for name, array in arrays.items():
            np.save(directory / f"all__{name}.npy", array)
        DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=vocab_size, seq_len=seq_len,
                        num_puzzle_identifiers=num_puzzles, total_groups=puzzles, mean_puzzle_examples=per_puzzle,
                        sets=["all"]).save(directory)
    names = [BLANK_PUZZLE_NAME] + [f"puzzle_{i}" for i in range(1, num_puzzles)]
    (root / IDENTIFIERS_FILE).write_text(json.dumps(names))


def compare_loop_to_step(size_name: str, *, steps: int = 200, log_interval: int = 10) -> str:
    """Runs both measurements for the bench size `size_name`; returns the one-line report."""
    from hrm_core.bench.step import SIZES

    size = SIZES[size_name]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_random_dataset(data, examples=size.batch_size * steps, seq_len=size.seq_len, vocab_size=size.vocab_size,
                             num_puzzles=size.num_puzzle_identifiers)
        run_dir = Path(tmp) / "run"
        command = [sys.executable, "-m", "hrm_core.pretrain", f"data_path={data}", f"checkpoint_path={run_dir}",
                   f"global_batch_size={size.batch_size}", "epochs=1", "eval_interval=1", f"log_interval={log_interval}",
                   "lr_warmup_steps=10", *size.overrides]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        windows = [e.examples_per_s for e in read_events(run_dir).of_type(Train) if e.examples_per_s is not None]
        steady = windows[max(len(windows) // 5, 2):-1] or windows
        loop_examples_per_s = statistics.median(steady)

    bench = subprocess.run([sys.executable, "-m", "hrm_core.bench", "step", "--size", size_name, "--json", "--steps", "30"],
                           check=True, capture_output=True, text=True)
    result = json.loads(bench.stdout.strip().splitlines()[-1])
    bench_examples_per_s = result["batch_size"] / (result["ms_per_step"] / 1000)
    return (f"size {size_name} on {result['device']} (compile={result['compile']}): "
            f"pretrain {loop_examples_per_s:,.0f} examples/s ({1000 * size.batch_size / loop_examples_per_s:.1f} ms/step), "
            f"bench step {bench_examples_per_s:,.0f} examples/s ({result['ms_per_step']:.1f} ms/step); "
            f"loop / bench = {loop_examples_per_s / bench_examples_per_s:.3f}")
