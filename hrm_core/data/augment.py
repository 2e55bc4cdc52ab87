"""Augmentations of the builders, vectorised over batches of grids.

- The 8 dihedral transforms (symmetries of the square), numbered as the original's `dataset/common.py`
  numbers them, so that `<name>_t<k>_<perm>` identifiers mean the same thing in both code bases. They act
  on the last two axes, so one call transforms a whole stack of grids.
- ARC colour permutations: colours 1-9 shuffled, black (0) fixed.
- Sudoku shuffles: digit permutation, band and stack shuffles, row and column shuffles within them, and
  transpose; each maps a valid solution to a valid solution.
"""

from __future__ import annotations

import math

import numpy as np

NUM_DIHEDRAL = 8
# DIHEDRAL_INVERSE[k] undoes transform k: rotations by 90 and 270 degrees undo each other, every other
# element of the group is its own inverse.
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)
NUM_ARC_COLOURS = 10


def dihedral_transform(grids: np.ndarray, transform_id: int) -> np.ndarray:
    """Transform `transform_id` (0-7) applied to the last two axes of `grids` (a view where possible)."""
    if transform_id == 0:
        return grids
    if transform_id in (1, 2, 3):
        return np.rot90(grids, k=transform_id, axes=(-2, -1))
    if transform_id == 4:
        return np.flip(grids, axis=-1)  # mirror left-right
    if transform_id == 5:
        return np.flip(grids, axis=-2)  # mirror up-down
    if transform_id == 6:
        return np.swapaxes(grids, -1, -2)  # transpose: reflect in the main diagonal
    if transform_id == 7:
        return np.flip(np.rot90(grids, k=1, axes=(-2, -1)), axis=-1)  # reflect in the anti-diagonal
    raise ValueError(f"a dihedral transform id is 0-7, got {transform_id}")


def inverse_dihedral_transform(grids: np.ndarray, transform_id: int) -> np.ndarray:
    return dihedral_transform(grids, DIHEDRAL_INVERSE[transform_id])


def random_colour_maps(rng: np.random.Generator, count: int) -> np.ndarray:
    """[count, 10] uint8 colour maps: map[c] is the new colour of colour c; 0 stays 0, 1-9 are permuted."""
    shuffled = rng.permuted(np.tile(np.arange(1, NUM_ARC_COLOURS, dtype=np.uint8), (count, 1)), axis=1)
    return np.concatenate([np.zeros((count, 1), dtype=np.uint8), shuffled], axis=1)


def colour_map_name(colour_map: np.ndarray) -> str:
    """The ten-digit string of the original's identifiers (`..._t<k>_0123456789`)."""
    return "".join(str(int(c)) for c in colour_map)


def invert_colour_map(colour_map: np.ndarray) -> np.ndarray:
    return np.argsort(colour_map).astype(np.uint8)


def arc_augmentation_name(base: str, transform_id: int, colour_map: np.ndarray) -> str:
    return f"{base}_t{transform_id}_{colour_map_name(colour_map)}"


def augment_arc_grid(grid: np.ndarray, transform_id: int, colour_map: np.ndarray) -> np.ndarray:
    """The builder's augmentation of one colour grid: recolour, then transform."""
    return dihedral_transform(np.asarray(colour_map, dtype=np.uint8)[grid], transform_id)


def deaugment_arc_grid(grid: np.ndarray, transform_id: int, colour_map: np.ndarray) -> np.ndarray:
    """Undo `augment_arc_grid`: back to the original puzzle's frame and colours."""
    return invert_colour_map(np.asarray(colour_map))[inverse_dihedral_transform(np.asarray(grid), transform_id)]


# --------------------------------------------------------------------------------------------------
# Sudoku
# --------------------------------------------------------------------------------------------------


def sudoku_shuffles(rng: np.random.Generator, count: int, size: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`count` random validity-preserving shuffles of an n x n board (n = box * box).

    Returns (digit_maps [count, n + 1] with 0 -> 0, row_orders [count, n], col_orders [count, n],
    transpose [count] bool). Row orders shuffle the bands (groups of `box` rows) and the rows inside each
    band independently; column orders do the same for stacks.
    """
    box = math.isqrt(size)
    digits = rng.permuted(np.tile(np.arange(1, size + 1), (count, 1)), axis=1)
    digit_maps = np.concatenate([np.zeros((count, 1), dtype=np.int64), digits], axis=1)

    def line_orders() -> np.ndarray:
        bands = rng.permuted(np.tile(np.arange(box), (count, 1)), axis=1)  # [count, box]
        within = rng.permuted(np.tile(np.arange(box), (count, box, 1)), axis=2)  # [count, box, box]
        return (bands[:, :, None] * box + within).reshape(count, size)

    return digit_maps, line_orders(), line_orders(), rng.random(count) < 0.5


def apply_sudoku_shuffles(boards: np.ndarray, shuffles: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Apply each shuffle to `boards` ([n, n] shared, or [count, n, n] one per shuffle) -> [count, n, n].

    Transpose first, then reorder rows and columns, then relabel digits (blank 0 stays 0).
    """
    digit_maps, row_orders, col_orders, transpose = shuffles
    count = len(digit_maps)
    boards = np.broadcast_to(boards, (count, *np.shape(boards)[-2:]))
    boards = np.where(transpose[:, None, None], np.swapaxes(boards, -1, -2), boards)
    boards = np.take_along_axis(boards, row_orders[:, :, None], axis=1)
    boards = np.take_along_axis(boards, col_orders[:, None, :], axis=2)
    return np.take_along_axis(digit_maps, boards.reshape(count, -1), axis=1).reshape(boards.shape)
