"""The build command of a dataset, recognised from its folder name.

When `data_path` does not exist, the trainer prints the command that builds it and the terminal UI offers
to run it. The names are those of the original's README (`data/arc-aug-1000`, `data/arc-2-aug-1000`,
`data/sudoku-extreme-1k-aug-1000`, `data/sudoku-hard-full`, `data/maze-30x30-hard-1k`) plus the general
patterns behind them (`arc-aug-<N>`, `sudoku-extreme-<K>k-aug-<N>`, ...), and the demo set.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path


def _module(name: str) -> list[str]:
    return [sys.executable, "-m", f"hrm_core.data.{name}"]


def _arc(source: str) -> Callable[[str, re.Match[str]], list[str]]:
    def build(path: str, match: re.Match[str]) -> list[str]:
        return _module("build_arc_dataset") + ["--output-dir", path, "--source", source, "--num-aug", match["aug"]]

    return build


def _sudoku_subsample(path: str, match: re.Match[str]) -> list[str]:
    size = int(match["size"]) * (1000 if match["k"] else 1)
    argv = _module("build_sudoku_dataset") + ["--output-dir", path, "--subsample-size", str(size)]
    return argv + ["--num-aug", match["aug"] or "0"]


def _sudoku_full(path: str, match: re.Match[str]) -> list[str]:
    # The full sets come from the Sudoku CSVs; without them the builder generates puzzles (see its --help).
    return _module("build_sudoku_dataset") + ["--output-dir", path]


def _maze(path: str, match: re.Match[str]) -> list[str]:
    size = int(match["size"]) * (1000 if match["k"] else 1)
    argv = _module("build_maze_dataset") + ["--output-dir", path, "--grid-size", match["side"], "--subsample-size", str(size)]
    return argv + (["--aug"] if match["aug"] else [])


def _demo(path: str, match: re.Match[str]) -> list[str]:
    return _module("demo") + ["--output-dir", path]


# (folder-name pattern, argv builder). The first match wins; patterns match the whole folder name.
_KNOWN: tuple[tuple[re.Pattern[str], Callable[[str, re.Match[str]], list[str]]], ...] = (
    (re.compile(r"arc-aug-(?P<aug>\d+)"), _arc("arc-agi-1")),
    (re.compile(r"arc-2-aug-(?P<aug>\d+)"), _arc("arc-agi-2")),
    (re.compile(r"sudoku-(extreme|hard)-(?P<size>\d+)(?P<k>k?)(-aug-(?P<aug>\d+))?"), _sudoku_subsample),
    (re.compile(r"sudoku-(extreme|hard)-full"), _sudoku_full),
    (re.compile(r"maze-(?P<side>\d+)x(?P=side)-hard-(?P<size>\d+)(?P<k>k?)(?P<aug>-aug)?"), _maze),
    (re.compile(r"demo-.+"), _demo),
)


def suggest_build_command(data_path: str) -> list[str] | None:
    """The argv that builds the dataset at `data_path`, judged by its folder name; None when unknown."""
    name = Path(data_path).name
    for pattern, build in _KNOWN:
        match = pattern.fullmatch(name)
        if match:
            return build(str(data_path), match)
    return None
