"""Draw puzzles as Rich text: ARC grids in the ARC colours, Sudoku boards and mazes.

`python -m hrm_core.data.show` and the terminal UI's sample-prediction panel both draw with these
functions, so a puzzle looks the same wherever it appears.

Everything here is a pure function of its inputs: no console, no terminal size, no global state. The
renderers read without colour too (on a light or dark terminal, or piped to a file): a wrong cell is
always marked by a glyph as well as by its style.

Grids passed to the `render_*` functions hold *cell values*, not tokens: ARC colours 0-9, Sudoku digits
(0 = blank), maze charset indices. `tokens_to_grid` converts a flat token sequence into such a grid using
the puzzle description of docs/run-directory.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text

# The ARC colour of each value 0-9 (the palette of the official ARC viewer), and a glyph colour that
# stays legible on top of it.
ARC_PALETTE = (
    "#000000",  # 0 black
    "#0074D9",  # 1 blue
    "#FF4136",  # 2 red
    "#2ECC40",  # 3 green
    "#FFDC00",  # 4 yellow
    "#AAAAAA",  # 5 grey
    "#F012BE",  # 6 magenta
    "#FF851B",  # 7 orange
    "#7FDBFF",  # 8 light blue
    "#870C25",  # 9 maroon
)
_ARC_GLYPH_ON = ("#FFFFFF", "#FFFFFF", "#FFFFFF", "#000000", "#000000", "#000000", "#FFFFFF", "#000000", "#000000", "#FFFFFF")

ARC_WRONG_GLYPH = "xx"
NON_COLOUR_GLYPH = "··"

SUDOKU_WRONG_MARK = "*"
SUDOKU_BLANK_GLYPH = "·"

MAZE_CHARSET = "# SGo"  # the original's charset: wall, open, start, goal, path

# Styles use the terminal's own foreground for structure (walls, givens) so that they read on light and
# dark backgrounds alike; only status (correct / wrong / missed) is coloured.
_GIVEN = Style(bold=True)
_SOLUTION = Style(dim=True)
_CORRECT = Style(color="green", bold=True)
_WRONG = Style(color="red", bold=True, underline=True)
_MISSED = Style(color="magenta")
_LINES = Style(dim=True)


# --------------------------------------------------------------------------------------------------
# Tokens -> grids
# --------------------------------------------------------------------------------------------------


def tokens_to_grid(tokens: Sequence[int] | np.ndarray, puzzle: Mapping[str, Any]) -> np.ndarray:
    """A flat token sequence -> an int grid of cell values, shape `puzzle["grid_shape"]`.

    Cell value = token - `vocab_offset`, so ARC colours come out as 0-9 (EOS -1, PAD -2), Sudoku digits as
    0-9 (0 = blank, PAD -1) and maze cells as indices into the charset (PAD -1). Negative tokens (the
    loader's ignore label, -100) count as padding.
    """
    flat = np.asarray(tokens, dtype=np.int64).reshape(-1)
    rows, cols = (int(n) for n in puzzle["grid_shape"])
    if flat.size != rows * cols:
        raise ValueError(f"{flat.size} tokens do not fill a {rows}x{cols} grid")
    pad_id = int(puzzle.get("pad_id", 0))
    flat = np.where(flat < 0, pad_id, flat)
    return (flat - int(puzzle.get("vocab_offset", 0))).reshape(rows, cols)


def crop_arc_grid(grid: np.ndarray) -> np.ndarray:
    """The ARC grid inside a 30x30 canvas: the largest colour rectangle that starts at its top-left cell.

    The scan is the original evaluator's: walk down the rows from the first colour cell, and let each
    row shrink the width to where its first non-colour cell (EOS or PAD) sits; keep the rectangle of
    largest area. Translated training examples are handled by starting at the first colour row/column.
    Returns an empty (0, 0) grid when there is no colour at all.
    """
    grid = np.asarray(grid)
    is_colour = (grid >= 0) & (grid <= 9)
    if not is_colour.any():
        return np.zeros((0, 0), dtype=np.int64)
    top = int(np.argmax(is_colour.any(axis=1)))
    left = int(np.argmax(is_colour.any(axis=0)))
    window = is_colour[top:, left:]

    best_area, best_shape = 0, (0, 0)
    width = window.shape[1]
    for row in range(window.shape[0]):
        non_colour = np.flatnonzero(~window[row, :width])
        if non_colour.size:
            width = int(non_colour[0])
        area = (row + 1) * width
        if area > best_area:
            best_area, best_shape = area, (row + 1, width)
        if width == 0:
            break
    rows, cols = best_shape
    return grid[top : top + rows, left : left + cols].astype(np.int64)


# --------------------------------------------------------------------------------------------------
# ARC
# --------------------------------------------------------------------------------------------------


def render_arc(grid: np.ndarray, wrong: np.ndarray | None = None, *, show_digits: bool = False, cell_width: int = 2) -> Text:
    """An ARC grid (values 0-9), two characters per cell on the cell's ARC colour.

    `wrong` (bool, same shape) marks cells with "xx". Values outside 0-9 (EOS, PAD) draw as a dim "··".
    `show_digits` writes each colour's digit in its cell, for output without colours (a file, NO_COLOR).
    `cell_width=1` draws one character per cell, for narrow screens.
    """
    grid = np.asarray(grid)
    if wrong is not None and np.shape(wrong) != grid.shape:
        raise ValueError(f"wrong mask has shape {np.shape(wrong)}, the grid {grid.shape}")
    text = Text()
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            value = int(grid[r, c])
            is_wrong = wrong is not None and bool(wrong[r, c])
            if 0 <= value <= 9:
                glyph = ARC_WRONG_GLYPH if is_wrong else (f"{value} " if show_digits else "  ")
                text.append(glyph[:cell_width], Style(bgcolor=ARC_PALETTE[value], color=_ARC_GLYPH_ON[value], bold=True))
            else:
                text.append(NON_COLOUR_GLYPH[:cell_width], _WRONG if is_wrong else _LINES)
        if r + 1 < grid.shape[0]:
            text.append("\n")
    return text


def arc_wrong_cells(prediction: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Bool mask over `prediction`: cells that differ from `expected` or lie outside its shape."""
    wrong = np.ones(prediction.shape, dtype=bool)
    rows = min(prediction.shape[0], expected.shape[0])
    cols = min(prediction.shape[1], expected.shape[1])
    wrong[:rows, :cols] = prediction[:rows, :cols] != expected[:rows, :cols]
    return wrong


# --------------------------------------------------------------------------------------------------
# Sudoku
# --------------------------------------------------------------------------------------------------


def render_sudoku(input_grid: np.ndarray, label_grid: np.ndarray, prediction_grid: np.ndarray | None = None, *,
                  cell_width: int = 3) -> Text:
    """A Sudoku board of any n x n size with n a square (4x4, 9x9, ...), with box lines; each cell is a blank,
    its digit and its mark (`cell_width=2` drops the blank, for narrow screens: a 9x9 board is 20 columns).

    Givens (non-zero cells of `input_grid`) are bold. Without a prediction the other cells show the
    label's digits, dim. With a prediction, the other cells show the predicted digits: correct ones in
    green, wrong ones in red, underlined and followed by "*". A given that the prediction changed is
    wrong too. Blank cells (0 or negative) draw as "·".
    """
    given = np.asarray(input_grid)
    label = np.asarray(label_grid)
    size = given.shape[0]
    box = math.isqrt(size)
    if given.shape != (size, size) or box * box != size:
        raise ValueError(f"a Sudoku board must be n x n with n a square, got {given.shape}")

    def horizontal_rule() -> str:
        return "┼".join(["─" * (cell_width * box)] * box)

    text = Text()
    for r in range(size):
        if r and r % box == 0:
            text.append(horizontal_rule() + "\n", _LINES)
        for c in range(size):
            if c and c % box == 0:
                text.append("│", _LINES)
            digit, style, mark = _sudoku_cell(int(given[r, c]), int(label[r, c]), None if prediction_grid is None else int(prediction_grid[r, c]))
            if cell_width > 2:
                text.append(" ")
            text.append(digit, style)
            text.append(mark, style if mark.strip() else None)
        if r + 1 < size:
            text.append("\n")
    return text


def _sudoku_cell(given: int, label: int, predicted: int | None) -> tuple[str, Style | None, str]:
    """(digit glyph, style, one-character mark) of one board cell."""
    def glyph(value: int) -> str:
        return str(value) if value > 0 else SUDOKU_BLANK_GLYPH

    if predicted is None:
        if given > 0:
            return glyph(given), _GIVEN, " "
        return glyph(label), _SOLUTION, " "
    if given > 0 and predicted == given:
        return glyph(given), _GIVEN, " "
    if predicted == label and predicted > 0:
        return glyph(predicted), _CORRECT, " "
    return glyph(predicted), _WRONG, SUDOKU_WRONG_MARK


# --------------------------------------------------------------------------------------------------
# Maze
# --------------------------------------------------------------------------------------------------


def render_maze(
    input_grid: np.ndarray,
    label_grid: np.ndarray,
    prediction_grid: np.ndarray | None = None,
    charset: str = MAZE_CHARSET,
    *,
    cell_width: int = 2,
) -> Text:
    """A maze, two characters per cell (`cell_width=1` for narrow screens): walls "██", start "S", goal "G".

    Grids hold indices into `charset` (the original's "# SGo": wall, open, start, goal, path). Without a
    prediction the label's path draws as "oo". With a prediction: path cells on both paths "oo" green,
    predicted off the true path "xx" red, true path that the prediction missed "··" magenta.
    """
    codes = {name: charset.index(char) if char in charset else -99 for name, char in zip(("wall", "open", "start", "goal", "path"), MAZE_CHARSET)}
    maze = np.asarray(input_grid)
    on_true_path = np.asarray(label_grid) == codes["path"]
    on_predicted_path = None if prediction_grid is None else np.asarray(prediction_grid) == codes["path"]

    def cell(r: int, c: int) -> tuple[str, Style | None]:
        value = int(maze[r, c])
        if value == codes["wall"]:
            return "██", None
        if value in (codes["start"], codes["goal"]):
            return ("S " if value == codes["start"] else "G "), Style(bold=True, reverse=True)
        true, predicted = bool(on_true_path[r, c]), None if on_predicted_path is None else bool(on_predicted_path[r, c])
        if true and predicted is not False:
            return "oo", _CORRECT
        if predicted:
            return "xx", _WRONG
        if true:
            return "··", _MISSED
        return "  ", None

    text = Text()
    for r in range(maze.shape[0]):
        for c in range(maze.shape[1]):
            glyph, style = cell(r, c)
            text.append(glyph[:cell_width], style)
        if r + 1 < maze.shape[0]:
            text.append("\n")
    return text


# --------------------------------------------------------------------------------------------------
# Generic: token digits
# --------------------------------------------------------------------------------------------------


def render_tokens(grid: np.ndarray, expected: np.ndarray | None = None) -> Text:
    """Any grid as numbers, one column per cell; with `expected`, differing cells red with a "*"."""
    grid = np.asarray(grid)
    width = max(1, max((len(str(int(v))) for v in grid.flat), default=1))
    text = Text()
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            value = int(grid[r, c])
            wrong = expected is not None and value != int(expected[r, c])
            text.append(f"{value:>{width}}", _WRONG if wrong else None)
            text.append(SUDOKU_WRONG_MARK if wrong else " ", _WRONG if wrong else None)
        if r + 1 < grid.shape[0]:
            text.append("\n")
    return text


# --------------------------------------------------------------------------------------------------
# Side by side
# --------------------------------------------------------------------------------------------------


def render_sample(
    puzzle: Mapping[str, Any],
    input: Sequence[int] | np.ndarray,  # noqa: A002 - the field is called `input` in events.jsonl
    label: Sequence[int] | np.ndarray,
    prediction: Sequence[int] | np.ndarray | None = None,
    *,
    show_digits: bool = False,
    cell_width: int = 2,
    short_titles: bool = False,
) -> RenderableType:
    """Input, expected output and prediction of one example side by side (wrapping on narrow screens).

    `puzzle` is the puzzle description (docs/run-directory.md); `input`, `label`, `prediction` are flat
    token sequences. Each panel is titled; the prediction's title counts its wrong cells.
    `show_digits` writes ARC colours as digits too, for a console without colours; `cell_width=1` draws
    ARC grids and mazes one character per cell, and Sudoku cells without their leading blank, for narrow screens. `short_titles` titles the prediction
    "prediction" alone (no count of wrong cells), so that small grids stay narrow when shown several to a row.
    """
    kind = puzzle.get("kind", "generic")
    grids = [tokens_to_grid(x, puzzle) if x is not None else None for x in (input, label, prediction)]
    input_grid, label_grid, prediction_grid = grids
    panels: list[tuple[str, Text]]

    if kind == "arc":
        input_arc, label_arc = crop_arc_grid(input_grid), crop_arc_grid(label_grid)
        panels = [("input", render_arc(input_arc, show_digits=show_digits, cell_width=cell_width)), ("expected", render_arc(label_arc, show_digits=show_digits, cell_width=cell_width))]
        if prediction_grid is not None:
            predicted = crop_arc_grid(prediction_grid)
            wrong = arc_wrong_cells(predicted, label_arc)
            title = _prediction_title(int(wrong.sum()), wrong.size, size_note=_size_note(predicted.shape, label_arc.shape))
            panels.append((title, render_arc(predicted, wrong, show_digits=show_digits, cell_width=cell_width)))
    elif kind == "sudoku":
        sudoku_cell = 3 if cell_width > 1 else 2  # a digit and its mark, after a blank unless narrow
        panels = [("input", render_sudoku(input_grid, input_grid, cell_width=sudoku_cell)),
                  ("expected", render_sudoku(input_grid, label_grid, cell_width=sudoku_cell))]
        if prediction_grid is not None:
            wrong = int((prediction_grid != label_grid).sum())
            panels.append((_prediction_title(wrong, label_grid.size),
                           render_sudoku(input_grid, label_grid, prediction_grid, cell_width=sudoku_cell)))
    elif kind == "maze":
        charset = puzzle.get("charset", MAZE_CHARSET)
        panels = [("expected", render_maze(input_grid, label_grid, None, charset, cell_width=cell_width))]
        if prediction_grid is not None:
            wrong = int((prediction_grid != label_grid).sum())
            panels.append((_prediction_title(wrong, label_grid.size), render_maze(input_grid, label_grid, prediction_grid, charset, cell_width=cell_width)))
    else:
        offset = int(puzzle.get("vocab_offset", 0))
        panels = [("input", render_tokens(input_grid + offset)), ("expected", render_tokens(label_grid + offset))]
        if prediction_grid is not None:
            wrong = int((prediction_grid != label_grid).sum())
            panels.append((_prediction_title(wrong, label_grid.size), render_tokens(prediction_grid + offset, label_grid + offset)))

    if short_titles:
        panels = [(title.split(":")[0], body) for title, body in panels]
    return Columns([Group(Text(title, style="bold"), body) for title, body in panels], padding=(0, 3))


def _prediction_title(wrong: int, total: int, size_note: str = "") -> str:
    verdict = "exact" if wrong == 0 and not size_note else f"{wrong} of {total} cells wrong"
    return f"prediction: {verdict}{size_note}"


def _size_note(predicted: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if tuple(predicted) == tuple(expected):
        return ""
    return f", size {predicted[0]}x{predicted[1]} (expected {expected[0]}x{expected[1]})"
