"""Print puzzles of a built dataset as coloured grids: ARC in the ARC colours, Sudoku boards, mazes.

    python -m hrm_core.data.show data/arc-aug-1000 [--split test] [--index N] [--count K]

Shows the split's metadata, then K puzzles from puzzle index N (default: the first 3), each with its name
from identifiers.json and all of its examples (input and expected output side by side). The same
renderers draw the sample predictions in the terminal UI (hrm_core/data/render.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.text import Text

from hrm_core.data.format import DatasetFormatError, DatasetMetadata, array_path, load_identifiers
from hrm_core.data.render import render_sample


def show(dataset_dir: Path, *, split: str, index: int, count: int, console: Console) -> None:
    split_dir = dataset_dir / split
    metadata = DatasetMetadata.load(split_dir)
    description = metadata.puzzle_description()
    set_name = metadata.sets[0]
    names = load_identifiers(dataset_dir) or []

    try:
        inputs = np.load(array_path(split_dir, set_name, "inputs"), mmap_mode="r")
        labels = np.load(array_path(split_dir, set_name, "labels"), mmap_mode="r")
        puzzle_indices = np.load(array_path(split_dir, set_name, "puzzle_indices"))
        puzzle_identifiers = np.load(array_path(split_dir, set_name, "puzzle_identifiers"))
    except (OSError, ValueError) as error:
        raise DatasetFormatError(f"{split_dir}: cannot read the {set_name!r} arrays ({error}); rebuild the dataset") from None

    num_puzzles = len(puzzle_identifiers)
    console.print(
        Text.assemble(
            (f"{dataset_dir}/{split}", "bold"),
            f"  {description['kind']}, {len(inputs)} examples in {num_puzzles} puzzles, {metadata.total_groups} groups, "
            f"seq_len {metadata.seq_len}, vocab {metadata.vocab_size}, {metadata.num_puzzle_identifiers} puzzle ids",
        ),
        soft_wrap=True,
    )
    if not 0 <= index < num_puzzles:
        raise DatasetFormatError(f"--index {index} is out of range: {split} has puzzles 0 to {num_puzzles - 1}")

    for puzzle in range(index, min(index + count, num_puzzles)):
        identifier = int(puzzle_identifiers[puzzle])
        name = names[identifier] if identifier < len(names) else f"id {identifier}"
        first, last = int(puzzle_indices[puzzle]), int(puzzle_indices[puzzle + 1])
        console.print()
        console.print(Text(f"puzzle {puzzle}: {name} ({last - first} example{'s' if last - first != 1 else ''})", style="bold underline"))
        for example in range(first, last):
            if last - first > 1:
                console.print(Text(f"example {example}", style="dim"))
            console.print(render_sample(description, inputs[example], labels[example], show_digits=console.color_system is None))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hrm_core.data.show", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset_dir", type=Path, metavar="DATA_DIR")
    parser.add_argument("--split", default="train", help="train (default) or test")
    parser.add_argument("--index", type=int, default=0, help="first puzzle to show (default 0)")
    parser.add_argument("--count", type=int, default=3, help="how many puzzles (default 3)")
    args = parser.parse_args(argv)
    try:
        show(args.dataset_dir, split=args.split, index=args.index, count=args.count, console=Console(highlight=False))
    except DatasetFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
