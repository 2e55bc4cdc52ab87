"""The puzzle renderers (hrm_core/data/render.py) on fixed inputs: exact cells, glyphs and styles."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.style import Style

from hrm_core.data.render import (
    ARC_PALETTE,
    crop_arc_grid,
    render_arc,
    render_maze,
    render_sample,
    render_sudoku,
    tokens_to_grid,
)

ARC_PUZZLE = {"kind": "arc", "grid_shape": [30, 30], "vocab_offset": 2, "pad_id": 0, "ignore_label_id": 0, "vocab_size": 12, "seq_len": 900}


def arc_tokens(grid: np.ndarray, top: int = 0, left: int = 0) -> np.ndarray:
    """The builder's encoding of a colour grid placed at (top, left), as a flat token sequence."""
    canvas = np.zeros((30, 30), dtype=np.int64)
    rows, cols = grid.shape
    canvas[top : top + rows, left : left + cols] = grid + 2
    if top + rows < 30:
        canvas[top + rows, left : left + cols] = 1
    if left + cols < 30:
        canvas[top : top + rows, left + cols] = 1
    return canvas.reshape(-1)


def style_at(text, offset: int) -> Style:
    """The combined style of character `offset` of a Text."""
    style = Style()
    for span in text.spans:
        if span.start <= offset < span.end:
            style += span.style if isinstance(span.style, Style) else Style.parse(span.style)
    return style


def plain_render(renderable, width: int = 200) -> str:
    console = Console(width=width, color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


def test_tokens_to_grid_and_arc_crop_round_trip():
    grid = np.array([[0, 1, 2], [3, 4, 5]])
    for top, left in [(0, 0), (5, 7), (28, 27)]:
        cells = tokens_to_grid(arc_tokens(grid, top, left), ARC_PUZZLE)
        assert cells.shape == (30, 30)
        np.testing.assert_array_equal(crop_arc_grid(cells), grid)
    # The loader's ignore label (-100) counts as padding.
    tokens = arc_tokens(grid)
    tokens[tokens == 0] = -100
    np.testing.assert_array_equal(crop_arc_grid(tokens_to_grid(tokens, ARC_PUZZLE)), grid)


def test_arc_crop_stops_at_first_eos_like_the_evaluator():
    # A prediction whose second row ends early: the largest top-left colour rectangle wins.
    cells = np.full((30, 30), -2)
    cells[0, :4] = [1, 2, 3, 4]
    cells[1, :2] = [5, 6]
    cells[1, 2] = -1
    cells[2, :2] = [7, 8]
    assert crop_arc_grid(cells).tolist() == [[1, 2], [5, 6], [7, 8]]
    assert crop_arc_grid(np.full((30, 30), -2)).shape == (0, 0)


def test_render_arc_colours_every_cell_and_marks_wrong_ones():
    grid = np.array([[0, 1], [9, 4]])
    wrong = np.array([[False, True], [False, False]])
    text = render_arc(grid, wrong)
    assert text.plain == "  xx\n    "
    # Cell (r, c) starts at character r * 5 + 2 * c (two characters per cell, one newline per row).
    for (r, c), colour in np.ndenumerate(grid):
        assert style_at(text, r * 5 + 2 * c).bgcolor.triplet.hex.upper() == ARC_PALETTE[colour].upper()
    assert render_arc(grid, show_digits=True).plain == "0 1 \n9 4 "
    assert render_arc(grid, wrong, show_digits=True, cell_width=1).plain == "0x\n94"


def test_render_sudoku_distinguishes_givens_correct_and_wrong_digits():
    solution = np.array([[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]])
    given = solution.copy()
    given[1:, 1:] = 0
    prediction = solution.copy()
    prediction[2, 2] = 1  # wrong
    text = render_sudoku(given, solution, prediction)
    assert text.plain.splitlines() == [
        " 1  2 │ 3  4 ",
        " 3  4 │ 1  2 ",
        "──────┼──────",
        " 2  1 │ 1* 3 ",
        " 4  3 │ 2  1 ",
    ]
    lines = text.plain.split("\n")

    def style_of(row: int, col: int) -> Style:
        line = row + (1 if row >= 2 else 0)  # the box rule adds a line
        offset = sum(len(l) + 1 for l in lines[:line]) + 1 + 3 * col + (1 if col >= 2 else 0)
        return style_at(text, offset)

    assert style_of(0, 0).bold and style_of(0, 0).color is None  # given: bold, terminal colour
    assert style_of(1, 1).color.name == "green"  # correct prediction
    assert style_of(2, 2).color.name == "red" and style_of(2, 2).underline  # wrong prediction
    # Without a prediction: givens bold, the solution dim; blank cells draw as "·" when the label is blank.
    assert render_sudoku(given, given).plain.splitlines()[1] == " 3  · │ ·  · "


def test_render_maze_shows_walls_endpoints_and_both_paths():
    # Charset codes: 0 wall, 1 open, 2 start, 3 goal, 4 path.
    maze = np.array([[0, 0, 0, 0], [2, 1, 1, 3], [0, 1, 1, 0]])
    label = maze.copy()
    label[1, 1:3] = 4
    prediction = maze.copy()
    prediction[1, 1] = 4
    prediction[2, 2] = 4
    assert render_maze(maze, label).plain.splitlines() == ["████████", "S ooooG ", "██    ██"]
    assert render_maze(maze, label, prediction).plain.splitlines() == ["████████", "S oo··G ", "██  xx██"]
    assert render_maze(maze, label, prediction, cell_width=1).plain.splitlines() == ["████", "So·G", "█ x█"]


def test_render_sample_lays_out_panels_for_each_kind():
    grid = np.array([[3, 3], [0, 7]])
    predicted = np.array([[3, 3], [1, 7]])
    text = plain_render(render_sample(ARC_PUZZLE, arc_tokens(grid), arc_tokens(grid), arc_tokens(predicted)))
    assert text.splitlines()[0].split() == ["input", "expected", "prediction:", "1", "of", "4", "cells", "wrong"]

    sudoku = {"kind": "sudoku", "grid_shape": [4, 4], "vocab_offset": 1, "pad_id": 0}
    solution = np.array([[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]])
    text = plain_render(render_sample(sudoku, (solution + 1).reshape(-1), (solution + 1).reshape(-1), (solution + 1).reshape(-1)))
    assert "prediction: exact" in text.splitlines()[0]

    generic = {"kind": "generic", "grid_shape": [1, 3], "vocab_offset": 0, "pad_id": 0}
    text = plain_render(render_sample(generic, [1, 2, 3], [1, 2, 3], [1, 5, 3]))
    assert "1 5*3" in text
