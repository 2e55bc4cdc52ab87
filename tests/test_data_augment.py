"""Augmentations keep puzzles valid and invert exactly (hrm_core/data/augment.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_core.data.augment import (
    DIHEDRAL_INVERSE,
    NUM_DIHEDRAL,
    apply_sudoku_shuffles,
    augment_arc_grid,
    deaugment_arc_grid,
    dihedral_transform,
    inverse_dihedral_transform,
    random_colour_maps,
    sudoku_shuffles,
)
from hrm_core.data.maze import generate_maze, is_unique_shortest_path
from hrm_core.data.sudoku import generate_puzzle, has_unique_solution, is_solved


@pytest.mark.parametrize("transform_id", range(NUM_DIHEDRAL))
def test_dihedral_transforms_invert_and_follow_the_original_numbering(transform_id):
    grid = np.arange(12).reshape(3, 4)
    transformed = dihedral_transform(grid, transform_id)
    np.testing.assert_array_equal(inverse_dihedral_transform(transformed, transform_id), grid)
    # The numbering of the original's dataset/common.py, which `<name>_t<k>_...` identifiers refer to.
    original = [grid, np.rot90(grid, 1), np.rot90(grid, 2), np.rot90(grid, 3), np.fliplr(grid), np.flipud(grid), grid.T, np.fliplr(np.rot90(grid, 1))]
    np.testing.assert_array_equal(transformed, original[transform_id])
    # Batched: the transform acts on the last two axes of a stack.
    stack = np.stack([grid, grid + 100])
    np.testing.assert_array_equal(dihedral_transform(stack, transform_id)[1], dihedral_transform(grid + 100, transform_id))


def test_the_eight_transforms_are_distinct_and_the_inverse_table_is_an_involution_map():
    grid = np.arange(9).reshape(3, 3)
    assert len({dihedral_transform(grid, t).tobytes() for t in range(NUM_DIHEDRAL)}) == NUM_DIHEDRAL
    assert all(DIHEDRAL_INVERSE[DIHEDRAL_INVERSE[t]] == t for t in range(NUM_DIHEDRAL))


def test_colour_maps_fix_black_and_round_trip():
    rng = np.random.default_rng(0)
    maps = random_colour_maps(rng, 50)
    assert (maps[:, 0] == 0).all()
    assert (np.sort(maps, axis=1) == np.arange(10)).all()
    grid = rng.integers(0, 10, size=(5, 7)).astype(np.uint8)
    for t, colour_map in zip(range(NUM_DIHEDRAL), maps):
        np.testing.assert_array_equal(deaugment_arc_grid(augment_arc_grid(grid, t, colour_map), t, colour_map), grid)


def test_sudoku_shuffles_keep_solutions_solved_and_puzzles_unique():
    rng = np.random.default_rng(1)
    puzzle, solution, _ = generate_puzzle(9, rng, min_rating=0)
    shuffles = sudoku_shuffles(rng, 64)
    boards = apply_sudoku_shuffles(puzzle, shuffles)
    solutions = apply_sudoku_shuffles(solution, shuffles)
    assert is_solved(solutions).all()
    # Givens move with their cells: the shuffled puzzle agrees with its shuffled solution, blanks stay blank.
    assert ((boards == 0) | (boards == solutions)).all()
    assert ((boards == 0).sum(axis=(1, 2)) == (puzzle == 0).sum()).all()
    assert all(has_unique_solution(board) for board in boards[:8])
    assert len({board.tobytes() for board in solutions}) > 60  # really different copies
    assert shuffles[3].any() and not shuffles[3].all()  # both transposed and plain copies


def test_dihedral_transforms_keep_the_maze_path_a_unique_shortest_path():
    question, answer = generate_maze(15, np.random.default_rng(2), min_path_length=20)
    for t in range(NUM_DIHEDRAL):
        assert is_unique_shortest_path(dihedral_transform(question, t), dihedral_transform(answer, t))
