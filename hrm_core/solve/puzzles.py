"""Puzzles as people write them -> the token sequences the checkpoint's dataset encodes.

The checkpoint's dataset (`DatasetMetadata.puzzle_description()`) says which kind it holds and how:

- Sudoku: one character per cell, `.` or `0` for a blank, digits `1`-`n` for an n x n board, on one line
  or one line per row (whitespace is ignored). Token = digit + 1, as the Sudoku builder writes them.
- Maze: the text grid the Maze builder reads, one line per row in its charset (`#` wall, space open,
  `S` start, `G` goal, `o` path). Token = charset index + 1.
- ARC: a task JSON (`{"train": [...], "test": [{"input": grid, "output": grid?}, ...]}`); each test input
  is one puzzle, at the top-left of the 30 x 30 canvas with EOS drawn right of and below it. The puzzle id is
  the task's trained embedding when the file's name is a task of the dataset, otherwise the blank id.

Every mistake is a SolveError naming the file, what the checkpoint expects and the fix.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrm_core.arc.scoring import GRID_SIDE, encode_grid
from hrm_core.solve.errors import SolveError

SUDOKU_BLANKS = ".0"


@dataclass
class Puzzle:
    name: str
    inputs: np.ndarray  # [seq_len] token ids
    labels: np.ndarray | None  # [seq_len] token ids of the known answer, when the source has one
    puzzle_identifier: int = 0
    note: str | None = None  # e.g. why the blank puzzle id is used


def read_source(source: str, stdin_text: str | None = None) -> tuple[str, str]:
    """(display name, text) of `puzzle=FILE` or `puzzle=-` (stdin)."""
    if source == "-":
        return "<stdin>", stdin_text if stdin_text is not None else ""
    path = Path(source)
    if not path.is_file():
        raise SolveError(f"puzzle file {source} does not exist; pass puzzle=FILE (or puzzle=- to read stdin)")
    try:
        return source, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SolveError(f"cannot read the puzzle file {source}: {e}; it must be a UTF-8 text file") from None


def parse_puzzles(name: str, text: str, puzzle: dict[str, Any], identifiers: list[str] | None) -> list[Puzzle]:
    """The puzzles in `text` for a checkpoint whose dataset `puzzle` describes."""
    kind = puzzle.get("kind")
    if kind == "sudoku":
        return [parse_sudoku(name, text, puzzle)]
    if kind == "maze":
        return [parse_maze(name, text, puzzle)]
    if kind == "arc":
        return parse_arc(name, text, puzzle, identifiers)
    raise SolveError(f"the checkpoint's dataset holds {kind!r} puzzles, which solve cannot read from a file; "
                     f"solve reads Sudoku, Maze and ARC puzzles: use split=test to run the dataset's own examples")


def _side(puzzle: dict[str, Any]) -> int:
    rows, cols = (int(n) for n in puzzle["grid_shape"])
    return rows if rows == cols else int(math.isqrt(int(puzzle["seq_len"])))


def grid_side(puzzle: dict[str, Any]) -> int:
    """The side of the square board (Sudoku, Maze) the checkpoint's dataset holds."""
    return _side(puzzle)


def sudoku_max_digit(puzzle: dict[str, Any]) -> int:
    """The largest digit a Sudoku cell of this checkpoint may hold (4 on the demo's 4x4 boards)."""
    offset = int(puzzle.get("vocab_offset", 1))
    return min(_side(puzzle), int(puzzle["vocab_size"]) - 1 - offset, 9)


def cell_symbols(puzzle: dict[str, Any]) -> str:
    """Every character a typed Sudoku or Maze cell may be, for a checkpoint whose dataset `puzzle` describes:
    what `parse_sudoku` / `parse_maze` accept (the puzzle editor checks keys against it)."""
    kind = puzzle.get("kind")
    if kind == "sudoku":
        return SUDOKU_BLANKS + "".join(str(d) for d in range(1, sudoku_max_digit(puzzle) + 1))
    if kind == "maze":
        return str(puzzle.get("charset", "# SGo"))
    raise SolveError(f"the checkpoint's dataset holds {kind!r} puzzles, which are not typed cell by cell; "
                     f"Sudoku and Maze puzzles are (ARC tasks are loaded from their JSON file)")


def parse_sudoku(name: str, text: str, puzzle: dict[str, Any]) -> Puzzle:
    side = _side(puzzle)
    offset = int(puzzle.get("vocab_offset", 1))
    max_digit = sudoku_max_digit(puzzle)
    cells: list[int] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        for column, char in enumerate(line, start=1):
            if char.isspace():
                continue
            if char in SUDOKU_BLANKS:
                cells.append(0)
            elif char.isdigit() and 1 <= int(char) <= max_digit:
                cells.append(int(char))
            else:
                raise SolveError(
                    f"{name} line {line_number} column {column}: {char!r} is not a Sudoku cell of this checkpoint; "
                    f"it was trained on {side}x{side} boards: write digits 1-{max_digit}, and . or 0 for a blank")
    if len(cells) != side * side:
        raise SolveError(f"{name} has {len(cells)} cells; the checkpoint was trained on {side}x{side} Sudoku "
                         f"({side * side} cells): write one character per cell, on one line or {side} lines of {side}")
    return Puzzle(name=name, inputs=np.asarray(cells, dtype=np.int64) + offset, labels=None)


def parse_maze(name: str, text: str, puzzle: dict[str, Any]) -> Puzzle:
    side = _side(puzzle)
    charset = str(puzzle.get("charset", "# SGo"))
    offset = int(puzzle.get("vocab_offset", 1))
    lines = text.split("\n")
    while lines and lines[-1].strip("\r") == "":
        lines.pop()  # trailing newlines; a line of spaces inside the maze is open floor
    lines = [line.rstrip("\r") for line in lines]
    if len(lines) != side or any(len(line) != side for line in lines):
        widths = sorted({len(line) for line in lines})
        raise SolveError(f"{name} is {len(lines)} lines of {'/'.join(map(str, widths)) or 0} characters; the checkpoint "
                         f"was trained on {side}x{side} mazes: write {side} lines of {side} characters from {charset!r}")
    cells = []
    for line_number, line in enumerate(lines, start=1):
        for column, char in enumerate(line, start=1):
            if char not in charset:
                raise SolveError(f"{name} line {line_number} column {column}: {char!r} is not a maze cell; the "
                                 f"checkpoint's mazes use {charset!r} (wall, open, start, goal, path)")
            cells.append(charset.index(char))
    return Puzzle(name=name, inputs=np.asarray(cells, dtype=np.int64) + offset, labels=None)


def _arc_grid(value: Any, where: str, name: str) -> np.ndarray:
    fix = "an ARC grid is a list of rows, each a list of colours 0-9, all rows the same length, at most 30x30"
    if not isinstance(value, list) or not value or not all(isinstance(row, list) and row for row in value):
        raise SolveError(f"{name}: {where} is not a grid; {fix}")
    if len({len(row) for row in value}) != 1:
        raise SolveError(f"{name}: {where} has rows of different lengths; {fix}")
    if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9 for row in value for c in row):
        raise SolveError(f"{name}: {where} holds a value outside the colours 0-9; {fix}")
    grid = np.asarray(value, dtype=np.uint8)
    if grid.shape[0] > GRID_SIDE or grid.shape[1] > GRID_SIDE:
        raise SolveError(f"{name}: {where} is {grid.shape[0]}x{grid.shape[1]}, over the 30x30 that ARC checkpoints "
                         f"read; {fix}")
    return grid


def parse_arc_task(name: str, text: str) -> dict[str, list[tuple[np.ndarray, np.ndarray | None]]]:
    """An ARC task JSON -> {"train": [(input, output)], "test": [(input, output or None)]}."""
    try:
        task = json.loads(text)
    except ValueError as e:
        raise SolveError(f"{name} is not valid JSON ({e}); an ARC task is a JSON object with train and test pairs") from None
    if not isinstance(task, dict) or not isinstance(task.get("test"), list) or not task["test"]:
        raise SolveError(f"{name} is not an ARC task: it needs a \"test\" list of {{\"input\": grid}} pairs "
                         f"(and usually \"train\" pairs), as in the ARC-AGI repositories")
    pairs: dict[str, list[tuple[np.ndarray, np.ndarray | None]]] = {}
    for part in ("train", "test"):
        entries = task.get(part, [])
        if not isinstance(entries, list):
            raise SolveError(f"{name}: \"{part}\" must be a list of {{\"input\", \"output\"}} pairs")
        pairs[part] = []
        for index, pair in enumerate(entries):
            if not isinstance(pair, dict) or "input" not in pair:
                raise SolveError(f"{name}: {part}[{index}] must be an object with an \"input\" grid")
            output = pair.get("output")
            if output is None and part == "train":
                raise SolveError(f"{name}: train[{index}] has no \"output\"; demonstration pairs need both grids")
            pairs[part].append((_arc_grid(pair["input"], f"{part}[{index}].input", name),
                                None if output is None else _arc_grid(output, f"{part}[{index}].output", name)))
    return pairs


def parse_arc(name: str, text: str, puzzle: dict[str, Any], identifiers: list[str] | None) -> list[Puzzle]:
    seq_len = int(puzzle["seq_len"])
    task = parse_arc_task(name, text)
    task_name = Path(name).stem
    puzzle_id, note = 0, None
    if identifiers is not None and task_name in identifiers:
        puzzle_id = identifiers.index(task_name)
    else:
        note = (f"{task_name} is not a task the checkpoint was trained on: it runs with the blank puzzle id "
                f"(no trained embedding), so expect a poor answer")
    return [
        Puzzle(name=f"{task_name} test {index}", inputs=encode_grid(grid, seq_len).astype(np.int64),
               labels=None if output is None else encode_grid(output, seq_len).astype(np.int64),
               puzzle_identifier=puzzle_id, note=note)
        for index, (grid, output) in enumerate(task["test"])
    ]


def puzzle_from_tokens(name: str, inputs: Any, labels: Any, puzzle_identifier: int | None,
                       puzzle: dict[str, Any], num_identifiers: int | None = None, blank_id: int = 0) -> Puzzle:
    """A puzzle already in tokens (a sample a run logged), checked against the checkpoint: its length, its
    tokens and its puzzle id must be ones the model reads."""
    seq_len, vocab_size = int(puzzle["seq_len"]), int(puzzle["vocab_size"])
    try:
        tokens = np.asarray(inputs, dtype=np.int64).reshape(-1)
        answer = None if labels is None else np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise SolveError(f"{name}: its tokens are not a list of integers; the checkpoint reads {seq_len} tokens "
                         f"from 0 to {vocab_size - 1}") from None
    for what, values in (("input", tokens), ("answer", answer)):
        if values is None:
            continue
        if values.size != seq_len:
            raise SolveError(f"{name}: its {what} has {values.size} tokens; the checkpoint reads {seq_len}: was it "
                             f"logged by a run on another dataset?")
        # An answer's ignored cells may be negative (an ignore label); an input's tokens may not.
        if (what == "input" and values.min() < 0) or values.max() >= vocab_size:
            raise SolveError(f"{name}: its {what} holds a token outside 0-{vocab_size - 1}, the checkpoint's "
                             f"vocabulary: was it logged by a run on another dataset?")
    puzzle_id = blank_id if puzzle_identifier is None else int(puzzle_identifier)
    note = None
    if num_identifiers is not None and not 0 <= puzzle_id < num_identifiers:
        note = f"its puzzle id {puzzle_id} is not one the checkpoint knows: it runs with the blank puzzle id"
        puzzle_id = blank_id
    return Puzzle(name=name, inputs=tokens, labels=answer, puzzle_identifier=puzzle_id, note=note)
