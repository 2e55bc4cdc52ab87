"""Build a maze dataset in the original's format, from the Maze-Hard CSVs or generated.

    python -m hrm_core.data.build_maze_dataset --output-dir data/maze-30x30-hard-1k
    python -m hrm_core.data.build_maze_dataset --source-csv raw/maze-30x30-hard-1k/ [--subsample-size N] [--aug]

With --source-csv the mazes come from the original's CSV files (`source,question,answer,rating`, charset
`# SGo`: wall, open, start, goal, path). Without it, --subsample-size (default 1000) train and --test-size
(default 1000) test mazes are generated (hrm_core/data/maze.py): --grid-size square, a unique shortest
path of at least --min-path-length steps as the label.

Encoding (the original's): one token per cell, charset index + 1 (0 is padding), vocab 6, one maze per
group, all mazes share the blank identifier. --aug adds the 7 other dihedral transforms of every train
maze to its group.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hrm_core.data.augment import NUM_DIHEDRAL, dihedral_transform
from hrm_core.data.builder_cli import positive_int, progress, run_builder
from hrm_core.data.format import BLANK_PUZZLE_NAME
from hrm_core.data.maze import CHARSET, generate_maze
from hrm_core.data.puzzle_csv import find_split_csvs, read_puzzle_csv
from hrm_core.data.dataset_writer import DatasetWriter

VOCAB_SIZE = len(CHARSET) + 1
DEFAULT_GENERATED = {"train": 1000, "test": 1000}
DEFAULT_MIN_PATH_LENGTH = 110
_SPLIT_SEED = {"train": 0, "test": 1}


def generate_split(split: str, count: int, *, side: int, min_path_length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` generated (questions, answers), each [count, side, side] codes; maze i depends on (seed, split, i)."""
    questions, answers = [], []
    with progress(f"Generating {split} mazes", count) as advance:
        for index in range(count):
            question, answer = generate_maze(side, np.random.default_rng([seed, _SPLIT_SEED[split], index]), min_path_length=min_path_length)
            questions.append(question)
            answers.append(answer)
            advance(1)
    return np.stack(questions), np.stack(answers)


def read_csv_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = read_puzzle_csv(path, alphabet={char: code for code, char in enumerate(CHARSET)})
    side = table.side
    return table.questions.reshape(-1, side, side), table.answers.reshape(-1, side, side)


def build_maze_dataset(output_dir: str | Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], *, aug: bool) -> dict[str, int]:
    """Write `splits` ({"train": (questions, answers), ...}, charset codes); --aug applies to train only."""
    counts = {}
    with DatasetWriter(output_dir) as dataset:
        for split_name, (questions, answers) in splits.items():
            side = questions.shape[-1]
            split = dataset.split(split_name, seq_len=side * side, puzzle_kind="maze", charset=CHARSET)
            transforms = range(NUM_DIHEDRAL) if aug and split_name == "train" else range(1)
            # [mazes, transforms, side * side] tokens: each maze's group holds its transformed copies.
            inputs = np.stack([dihedral_transform(questions, t) for t in transforms], axis=1).reshape(len(questions) * len(transforms), -1) + 1
            labels = np.stack([dihedral_transform(answers, t) for t in transforms], axis=1).reshape(len(questions) * len(transforms), -1) + 1
            with progress(f"Writing {split_name}", len(questions)) as advance:
                split.add_groups(
                    inputs.astype(np.uint8),
                    labels.astype(np.uint8),
                    puzzle_sizes=np.ones(len(inputs), np.int64),
                    puzzle_identifiers=np.zeros(len(inputs), np.int32),
                    group_sizes=np.full(len(questions), len(transforms)),
                )
                advance(len(questions))
            split.finish(vocab_size=VOCAB_SIZE, num_puzzle_identifiers=1)
            counts[split_name] = split.num_examples
        dataset.write_identifiers([BLANK_PUZZLE_NAME])
    return counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hrm_core.data.build_maze_dataset", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--output-dir", default="data/maze-30x30-hard-1k", help="dataset folder to write (replaced if it exists)")
    parser.add_argument("--source-csv", metavar="PATH", help="folder with train.csv and test.csv, or the train CSV (then --test-csv or a test.csv beside it)")
    parser.add_argument("--test-csv", metavar="FILE", help="the test CSV when --source-csv names the train file")
    parser.add_argument("--subsample-size", type=positive_int, help="keep this many random train mazes (generated: generate this many, default 1000)")
    parser.add_argument("--aug", action="store_true", help="add the 8 dihedral transforms of each train maze")
    parser.add_argument("--grid-size", type=int, default=30, help="side of generated mazes (default 30)")
    parser.add_argument("--min-path-length", type=int, default=DEFAULT_MIN_PATH_LENGTH, help=f"shortest path length of generated mazes, in steps (default {DEFAULT_MIN_PATH_LENGTH})")
    parser.add_argument("--test-size", type=positive_int, default=DEFAULT_GENERATED["test"], help="generated test mazes (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.grid_size < 5:
        parser.error(f"--grid-size must be at least 5, got {args.grid_size}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    def build() -> None:
        if args.source_csv:
            paths = find_split_csvs(args.source_csv, args.test_csv)
            splits = {name: read_csv_split(path) for name, path in paths.items()}
            questions, answers = splits["train"]
            if args.subsample_size is not None and args.subsample_size < len(questions):
                chosen = np.sort(np.random.default_rng(args.seed).choice(len(questions), size=args.subsample_size, replace=False))
                splits["train"] = (questions[chosen], answers[chosen])
            origin = f"{paths['train']} and {paths['test']}"
        else:
            counts = {"train": args.subsample_size or DEFAULT_GENERATED["train"], "test": args.test_size}
            splits = {name: generate_split(name, count, side=args.grid_size, min_path_length=args.min_path_length, seed=args.seed) for name, count in counts.items()}
            origin = f"generated {args.grid_size}x{args.grid_size} mazes (seed {args.seed}, shortest path >= {args.min_path_length})"
        written = build_maze_dataset(args.output_dir, splits, aug=args.aug)
        print(f"wrote {args.output_dir} from {origin}: {written['train']} train and {written['test']} test examples")

    run_builder(build, output_dir=args.output_dir)


if __name__ == "__main__":
    main()
