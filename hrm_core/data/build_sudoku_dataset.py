"""Build a Sudoku puzzle dataset in the original's format, from the Sudoku-Extreme CSVs or generated.

    python -m hrm_core.data.build_sudoku_dataset --output-dir data/sudoku-extreme-1k-aug-1000 --subsample-size 1000 --num-aug 1000
    python -m hrm_core.data.build_sudoku_dataset --source-csv raw/sudoku-extreme/   # folder with train.csv, test.csv

With --source-csv the puzzles come from the Sudoku-Extreme CSV files (`source,question,answer,rating`,
`.` for blanks), e.g. a copy of the original's Hugging Face dataset made on a machine with network.
Without it, puzzles are generated: random full grids, dug to minimal unique-solution puzzles, and kept
when the solver of hrm_core/data/sudoku.py needs at least --min-difficulty guesses (default
GENERATED_MIN_DIFFICULTY: hard puzzles that singles alone cannot solve). Generation runs on every CPU
core and is deterministic for a seed whatever the number of workers.

Encoding (the original's): 81 tokens, blank = 1, digit d = d + 1, vocab 11, one puzzle per group, all
puzzles share the blank identifier. Augmentation (train split only, --num-aug copies per puzzle): digit
permutation, band and stack shuffles, row and column shuffles inside them, transpose.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil

from hrm_core.data.augment import apply_sudoku_shuffles, sudoku_shuffles
from hrm_core.data.builder_cli import DatasetBuildError, positive_int, progress, run_builder
from hrm_core.data.format import BLANK_PUZZLE_NAME
from hrm_core.data.interrupts import end_with_builder
from hrm_core.data.puzzle_csv import find_split_csvs, read_puzzle_csv
from hrm_core.data.sudoku import generate_puzzle
from hrm_core.data.dataset_writer import DatasetWriter

SIZE = 9
CELLS = SIZE * SIZE
VOCAB_SIZE = SIZE + 2  # PAD, blank, digits 1-9
GENERATED_MIN_DIFFICULTY = 10
DEFAULT_GENERATED = {"train": 1000, "test": 1000}
_CSV_ALPHABET = {".": 0, **{str(d): d for d in range(10)}}
_SPLIT_SEED = {"train": 0, "test": 1}
_GROUP_BATCH = 4096  # groups per write when there are no augmentations
_JOBS_PER_TASK = 8  # puzzles a worker generates per task


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


def read_csv_split(path: Path, *, min_difficulty: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(puzzles, solutions), each [N, 9, 9] uint8, of a Sudoku-Extreme CSV; checks that answers solve."""
    table = read_puzzle_csv(path, alphabet=_CSV_ALPHABET, cells=CELLS)
    puzzles, solutions = table.questions, table.answers
    blank_answers = np.flatnonzero((solutions == 0).any(axis=1))
    if blank_answers.size:
        raise DatasetBuildError(f"{path}: the answer of data row {blank_answers[0] + 1} has a blank; answers must be complete grids")
    clashes = np.flatnonzero(((puzzles != 0) & (puzzles != solutions)).any(axis=1))
    if clashes.size:
        raise DatasetBuildError(f"{path}: the answer of data row {clashes[0] + 1} contradicts its question's givens")
    if min_difficulty is not None:
        keep = table.ratings >= min_difficulty
        puzzles, solutions = puzzles[keep], solutions[keep]
    return puzzles.reshape(-1, SIZE, SIZE), solutions.reshape(-1, SIZE, SIZE)


def _generate_one(args: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, split_seed, index, min_rating = args
    puzzle, solution, _ = generate_puzzle(SIZE, np.random.default_rng([seed, split_seed, index]), min_rating=min_rating)
    return puzzle.astype(np.uint8), solution.astype(np.uint8)


def generate_split(split: str, count: int, *, seed: int, min_rating: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` generated (puzzles, solutions), each [count, 9, 9] uint8; puzzle i depends on (seed, split, i) only."""
    jobs = [(seed, _SPLIT_SEED[split], index, min_rating) for index in range(count)]
    results: list[tuple[np.ndarray, np.ndarray]] = []
    with progress(f"Generating {split} puzzles (rating >= {min_rating})", count) as advance:
        if workers <= 1:
            for job in jobs:
                results.append(_generate_one(job))
                advance(1)
        else:
            # Futures submitted and read in order, rather than pool.map: on an interrupt map's iterator would
            # cancel the queued futures that the pool, its workers gone, then also tries to fail.
            pool = ProcessPoolExecutor(max_workers=workers, initializer=end_with_builder, initargs=(os.getpid(),))
            try:
                chunks = [jobs[i : i + _JOBS_PER_TASK] for i in range(0, len(jobs), _JOBS_PER_TASK)]
                for future in [pool.submit(_generate_many, chunk) for chunk in chunks]:
                    chunk_results = future.result()
                    results.extend(chunk_results)
                    advance(len(chunk_results))
            except BaseException:
                _abandon_pool(pool)
                raise
            pool.shutdown()
    return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])


def _generate_many(jobs: list[tuple[int, int, int, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [_generate_one(job) for job in jobs]


def _abandon_pool(pool: ProcessPoolExecutor) -> None:
    """After an interrupt (or a failure): end the workers now rather than let them finish puzzles nobody
    will write (a hard one takes seconds). The interrupt may have landed anywhere
    inside the pool's own code, even while it was starting a worker or its manager thread, so every child
    process goes, registered with the pool or not, and the pool is not waited for."""
    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass
    try:
        pool.shutdown(wait=False)  # with its workers gone, the pool fails the queued futures itself
    except RuntimeError:  # interrupted between creating its manager thread and starting it
        pass


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def augmented_groups(puzzles: np.ndarray, solutions: np.ndarray, num_aug: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Yield (inputs, labels, puzzles per group) token batches: each puzzle's group is the puzzle itself
    followed by `num_aug` shuffled copies. Without augmentation, many one-puzzle groups per batch."""
    if num_aug == 0:
        for start in range(0, len(puzzles), _GROUP_BATCH):
            chunk = slice(start, start + _GROUP_BATCH)
            yield puzzles[chunk].reshape(-1, CELLS) + 1, solutions[chunk].reshape(-1, CELLS) + 1, 1
        return
    for puzzle, solution in zip(puzzles, solutions):
        shuffles = sudoku_shuffles(rng, num_aug, SIZE)
        boards = np.concatenate([puzzle[None], apply_sudoku_shuffles(puzzle, shuffles)])
        answers = np.concatenate([solution[None], apply_sudoku_shuffles(solution, shuffles)])
        yield boards.reshape(-1, CELLS).astype(np.uint8) + 1, answers.reshape(-1, CELLS).astype(np.uint8) + 1, num_aug + 1


def build_sudoku_dataset(output_dir: str | Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], *, num_aug: int, seed: int) -> dict[str, int]:
    """Write `splits` ({"train": (puzzles, solutions), "test": ...}); augment the train split only."""
    counts = {}
    with DatasetWriter(output_dir) as dataset:
        for split_name, (puzzles, solutions) in splits.items():
            split = dataset.split(split_name, seq_len=CELLS, puzzle_kind="sudoku")
            copies = num_aug if split_name == "train" else 0
            rng = np.random.default_rng([seed, _SPLIT_SEED[split_name], 2])
            with progress(f"Writing {split_name} ({len(puzzles)} puzzles x {copies + 1})", len(puzzles)) as advance:
                for inputs, labels, group_size in augmented_groups(puzzles, solutions, copies, rng):
                    groups = len(inputs) // group_size
                    split.add_groups(inputs, labels, puzzle_sizes=np.ones(len(inputs), np.int64), puzzle_identifiers=np.zeros(len(inputs), np.int32), group_sizes=np.full(groups, group_size))
                    advance(groups)
            split.finish(vocab_size=VOCAB_SIZE, num_puzzle_identifiers=1)
            counts[split_name] = split.num_examples
        dataset.write_identifiers([BLANK_PUZZLE_NAME])
    return counts


def subsample(puzzles: np.ndarray, solutions: np.ndarray, size: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random `size` of the puzzles (the original's --subsample-size, train split only)."""
    if size is None or size >= len(puzzles):
        return puzzles, solutions
    chosen = np.sort(rng.choice(len(puzzles), size=size, replace=False))
    return puzzles[chosen], solutions[chosen]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hrm_core.data.build_sudoku_dataset", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--output-dir", default="data/sudoku-extreme-full", help="dataset folder to write (replaced if it exists)")
    parser.add_argument("--source-csv", metavar="PATH", help="folder with train.csv and test.csv, or the train CSV (then --test-csv or a test.csv beside it)")
    parser.add_argument("--test-csv", metavar="FILE", help="the test CSV when --source-csv names the train file")
    parser.add_argument("--subsample-size", type=positive_int, help="keep this many random train puzzles (generated: generate this many)")
    parser.add_argument("--min-difficulty", type=int, help=f"keep puzzles rated at least this (CSV: its rating column; generated: solver guesses, default {GENERATED_MIN_DIFFICULTY})")
    parser.add_argument("--num-aug", type=int, default=0, help="augmented copies per train puzzle (default 0)")
    parser.add_argument("--test-size", type=positive_int, default=DEFAULT_GENERATED["test"], help=f"generated test puzzles (default {DEFAULT_GENERATED['test']}; a CSV test split is used whole)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes generating puzzles (default: all cores)")
    args = parser.parse_args(argv)
    if args.num_aug < 0:
        parser.error(f"--num-aug must be 0 or more, got {args.num_aug}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)

    def build() -> None:
        if args.source_csv:
            paths = find_split_csvs(args.source_csv, args.test_csv)
            splits = {name: read_csv_split(path, min_difficulty=args.min_difficulty) for name, path in paths.items()}
            for name, (puzzles, _) in splits.items():
                if not len(puzzles):
                    raise DatasetBuildError(f"{paths[name]}: no puzzle is rated {args.min_difficulty} or more; lower --min-difficulty")
            splits["train"] = subsample(*splits["train"], args.subsample_size, rng)
            origin = f"{paths['train']} and {paths['test']}"
        else:
            min_rating = GENERATED_MIN_DIFFICULTY if args.min_difficulty is None else args.min_difficulty
            counts = {"train": args.subsample_size or DEFAULT_GENERATED["train"], "test": args.test_size}
            splits = {name: generate_split(name, count, seed=args.seed, min_rating=min_rating, workers=args.workers) for name, count in counts.items()}
            origin = f"generated puzzles (seed {args.seed}, solver rating >= {min_rating})"
        written = build_sudoku_dataset(args.output_dir, splits, num_aug=args.num_aug, seed=args.seed)
        print(f"wrote {args.output_dir} from {origin}: {written['train']} train and {written['test']} test examples")

    run_builder(build, output_dir=args.output_dir)


if __name__ == "__main__":
    main()
