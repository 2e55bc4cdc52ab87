"""The demo dataset: 4x4 Sudoku, small enough that a small HRM learns it on a laptop CPU in minutes.

The `demo` experiment preset (config/experiment/demo.yaml) trains on `DEMO_DATA_PATH`; the trainer calls
`ensure_demo_dataset` when that folder is missing, so `python -m hrm_core.pretrain +experiment=demo` works
on a fresh checkout with no download and no build step.

Why 4x4 Sudoku: it is the same task as the published Sudoku experiments (same encoding, same renderer,
blank = token 1, digits 2-5), its sequences are 16 tokens long, so a CPU step takes milliseconds, and the
model must still learn the row/column/box constraints: a test puzzle's blanks are right only if it
reasons, since the test puzzles are not in the training set. Puzzles have a unique solution.

    python -m hrm_core.data.demo [--output-dir data/demo-sudoku-4x4] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hrm_core.data.builder_cli import run_builder
from hrm_core.data.format import BLANK_PUZZLE_NAME, METADATA_FILE
from hrm_core.data.sudoku import generate_puzzle
from hrm_core.data.dataset_writer import BuildLock, DatasetWriter

DEMO_DATA_PATH = "data/demo-sudoku-4x4"

DEMO_BOX = 2  # 2x2 boxes: a 4x4 board
DEMO_TRAIN_PUZZLES = 2000
DEMO_TEST_PUZZLES = 256
DEMO_MAX_BLANKS = 10  # of 16 cells; leaving 6+ givens keeps the puzzles solvable by a few deductions


def build_demo_dataset(output_dir: str | Path, *, seed: int = 0, replace_existing: bool = True) -> Path:
    """Generate the demo set into `output_dir` (atomically; see DatasetWriter) and return its path."""
    size = DEMO_BOX * DEMO_BOX
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()

    def unseen_puzzles(count: int) -> tuple[np.ndarray, np.ndarray]:
        """`count` puzzles not drawn before (train and test never share a puzzle)."""
        puzzles, solutions = [], []
        while len(puzzles) < count:
            puzzle, solution, _ = generate_puzzle(size, rng, max_blanks=DEMO_MAX_BLANKS)
            key = puzzle.tobytes()
            if key in seen:
                continue
            seen.add(key)
            puzzles.append(puzzle.reshape(-1))
            solutions.append(solution.reshape(-1))
        return np.stack(puzzles), np.stack(solutions)

    with DatasetWriter(output_dir, replace_existing=replace_existing) as dataset:
        for split_name, count in (("train", DEMO_TRAIN_PUZZLES), ("test", DEMO_TEST_PUZZLES)):
            puzzles, solutions = unseen_puzzles(count)
            split = dataset.split(split_name, seq_len=size * size, puzzle_kind="sudoku")
            # One puzzle per group, blank puzzle id, as the original's Sudoku builder. Tokens: digit + 1.
            for puzzle, solution in zip(puzzles, solutions):
                split.add_group((puzzle + 1)[None], (solution + 1)[None], puzzle_sizes=[1], puzzle_identifiers=[0])
            split.finish(vocab_size=size + 2, num_puzzle_identifiers=1)
        dataset.write_identifiers([BLANK_PUZZLE_NAME])
    return Path(output_dir)


def ensure_demo_dataset(path: str | Path = DEMO_DATA_PATH) -> Path:
    """The demo set at `path`, built first if missing (a second of work).

    Safe when several processes (e.g. two trainers started at once) call it: one builds, under the folder's
    build lock, and the others wait for it and then find the set complete.
    """
    path = Path(path)

    def complete() -> bool:
        return (path / "train" / METADATA_FILE).exists() and (path / "test" / METADATA_FILE).exists()

    if not complete():
        with BuildLock(path, wait=True):
            if not complete():
                build_demo_dataset(path, replace_existing=False)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hrm_core.data.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=DEMO_DATA_PATH)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def build() -> None:
        path = build_demo_dataset(args.output_dir, seed=args.seed)
        print(f"wrote {path}: {DEMO_TRAIN_PUZZLES} train and {DEMO_TEST_PUZZLES} test 4x4 Sudoku puzzles")

    run_builder(build, output_dir=args.output_dir)


if __name__ == "__main__":
    main()
