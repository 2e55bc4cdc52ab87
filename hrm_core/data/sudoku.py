"""Sudoku boards: a solver that counts its guesses, a generator of unique-solution puzzles, and checks.

Boards are n x n int arrays with n = box * box (4x4 with 2x2 boxes, 9x9 with 3x3 boxes), 0 for a blank.

The solver keeps one candidate bitmask per cell (bit d-1 set when digit d is still possible) and
propagates the two basic deductions after every placement:

- naked single: a cell with one candidate left takes it, and it is removed from the cell's peers;
- hidden single: a digit with one place left in a row, column or box goes there.

When propagation stalls it guesses: it takes a cell with the fewest candidates and tries each in turn,
depth first. The number of guesses needed to find the solution *and prove it unique* is the puzzle's
rating: 0 for puzzles that singles alone solve, tens or hundreds for the hard ones. (Sudoku-Extreme rates
its puzzles the same way, by the backtracking effort of a solver, with a different solver.)

Pure Python on purpose: a 9x9 puzzle solves in well under a millisecond to a few milliseconds, and the
generator's cost is dominated by the ~81 uniqueness checks per puzzle, which run in worker processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class _Geometry:
    """Index tables of an n x n board: each cell's peers, and the units (rows, columns, boxes)."""

    size: int
    peers: tuple[tuple[int, ...], ...]
    units: tuple[tuple[int, ...], ...]
    full_mask: int


@lru_cache(maxsize=None)
def _geometry(size: int) -> _Geometry:
    box = math.isqrt(size)
    if box * box != size:
        raise ValueError(f"a Sudoku side must be a square number, got {size}")
    rows = [tuple(r * size + c for c in range(size)) for r in range(size)]
    cols = [tuple(r * size + c for r in range(size)) for c in range(size)]
    boxes = [
        tuple((br * box + r) * size + bc * box + c for r in range(box) for c in range(box))
        for br in range(box)
        for bc in range(box)
    ]
    units = tuple(rows + cols + boxes)
    peers = tuple(
        tuple(sorted({p for unit in units if cell in unit for p in unit} - {cell})) for cell in range(size * size)
    )
    return _Geometry(size=size, peers=peers, units=units, full_mask=(1 << size) - 1)


@dataclass
class SolveResult:
    solutions: list[np.ndarray]  # at most `limit` of them
    guesses: int  # guesses made during the search (the rating when the search ran to completion)


class _Contradiction(Exception):
    pass


def _propagate(candidates: list[int], queue: list[int], geometry: _Geometry) -> None:
    """Apply naked and hidden singles until nothing changes; raises _Contradiction on a dead end.

    `queue` holds cells that became single-candidate and whose digit must still leave their peers.
    """
    peers, units = geometry.peers, geometry.units
    while True:
        while queue:
            cell = queue.pop()
            bit = candidates[cell]
            for peer in peers[cell]:
                mask = candidates[peer]
                if mask & bit:
                    mask ^= bit
                    if not mask:
                        raise _Contradiction
                    candidates[peer] = mask
                    if not mask & (mask - 1):
                        queue.append(peer)
        for unit in units:
            seen_once = seen_twice = 0
            for cell in unit:
                mask = candidates[cell]
                seen_twice |= seen_once & mask
                seen_once |= mask
            if seen_once != geometry.full_mask:
                raise _Contradiction  # some digit has no place left in this unit
            hidden = seen_once & ~seen_twice
            if not hidden:
                continue
            for cell in unit:
                mask = candidates[cell]
                single = mask & hidden
                if single and mask & (mask - 1):
                    if single & (single - 1):
                        raise _Contradiction  # two digits can only go in this one cell
                    candidates[cell] = single
                    queue.append(cell)
        if not queue:
            return


def _initial_candidates(board: np.ndarray, geometry: _Geometry) -> tuple[list[int], list[int]]:
    flat = [int(v) for v in np.asarray(board).reshape(-1)]
    candidates = [geometry.full_mask if v == 0 else 1 << (v - 1) for v in flat]
    queue = [cell for cell, v in enumerate(flat) if v]
    return candidates, queue


def solve(board: np.ndarray, *, limit: int = 2, rng: np.random.Generator | None = None, exclude: tuple[int, int] | None = None) -> SolveResult:
    """Search for up to `limit` solutions of `board` (n x n, 0 = blank).

    `rng` shuffles the order in which a guess tries its candidates (to draw random full grids).
    `exclude=(cell, digit)` forbids one digit in one cell: the generator asks "is there a solution other
    than the known one?" that way.
    """
    board = np.asarray(board)
    geometry = _geometry(board.shape[0])
    candidates, queue = _initial_candidates(board, geometry)
    if exclude is not None:
        cell, digit = exclude
        candidates[cell] &= ~(1 << (digit - 1))
    solutions: list[np.ndarray] = []
    guesses = 0

    # Explicit stack of (candidates, queue) states rather than recursion: the depth can exceed 60.
    stack = [(candidates, queue)]
    while stack and len(solutions) < limit:
        candidates, queue = stack.pop()
        try:
            _propagate(candidates, queue, geometry)
        except _Contradiction:
            continue
        best_cell, best_count = -1, geometry.size + 1
        for cell, mask in enumerate(candidates):
            count = mask.bit_count()
            if 1 < count < best_count:
                best_cell, best_count = cell, count
                if count == 2:
                    break
        if best_cell < 0:
            solutions.append(np.array([mask.bit_length() for mask in candidates]).reshape(board.shape))
            continue
        mask = candidates[best_cell]
        bits = [1 << d for d in range(geometry.size) if mask >> d & 1]
        if rng is not None:
            bits = [bits[i] for i in rng.permutation(len(bits))]
        # Pushed in reverse so that the first candidate is tried first.
        for bit in reversed(bits):
            child = candidates.copy()
            child[best_cell] = bit
            stack.append((child, [best_cell]))
        guesses += len(bits)
    return SolveResult(solutions=solutions, guesses=guesses)


def rate(puzzle: np.ndarray) -> int:
    """The number of guesses the solver makes to solve `puzzle` and prove the solution unique."""
    return solve(puzzle, limit=2).guesses


def random_solution(size: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly shuffled search's first full grid of side `size`."""
    return solve(np.zeros((size, size), dtype=np.int64), limit=1, rng=rng).solutions[0]


def has_unique_solution(puzzle: np.ndarray) -> bool:
    return len(solve(puzzle, limit=2).solutions) == 1


def dig_puzzle(solution: np.ndarray, rng: np.random.Generator, *, max_blanks: int | None = None) -> np.ndarray:
    """Blank cells of `solution` in random order, keeping each blank only while the solution stays unique.

    Without `max_blanks` the result is a minimal puzzle: no given can be removed. Each cell is tried once:
    a given whose removal allows a second solution stays necessary however many others are removed later.
    """
    puzzle = np.array(solution, copy=True)
    flat = puzzle.reshape(-1)
    blanks = 0
    for cell in rng.permutation(flat.size):
        if max_blanks is not None and blanks >= max_blanks:
            break
        digit = int(flat[cell])
        flat[cell] = 0
        # Unique iff no solution puts another digit in this cell.
        if solve(puzzle, limit=1, exclude=(int(cell), digit)).solutions:
            flat[cell] = digit
        else:
            blanks += 1
    return puzzle


def generate_puzzle(size: int, rng: np.random.Generator, *, min_rating: int = 0, max_blanks: int | None = None, max_tries: int = 1000) -> tuple[np.ndarray, np.ndarray, int]:
    """(puzzle, solution, rating) of a unique-solution puzzle rated at least `min_rating`."""
    for _ in range(max_tries):
        solution = random_solution(size, rng)
        puzzle = dig_puzzle(solution, rng, max_blanks=max_blanks)
        rating = rate(puzzle)
        if rating >= min_rating:
            return puzzle, solution, rating
    raise RuntimeError(f"no puzzle rated {min_rating} or more in {max_tries} tries; lower --min-difficulty")


def is_solved(board: np.ndarray) -> np.ndarray:
    """Whether each board is a complete valid grid; `board` is [..., n, n], the result [...] bool."""
    board = np.asarray(board)
    size = board.shape[-1]
    box = math.isqrt(size)
    boxes = board.reshape(*board.shape[:-2], box, box, box, box).swapaxes(-3, -2).reshape(*board.shape[:-2], size, size)

    def units_complete(units: np.ndarray) -> np.ndarray:
        return (np.sort(units, axis=-1) == np.arange(1, size + 1)).all(axis=(-1, -2))

    return units_complete(board) & units_complete(np.swapaxes(board, -1, -2)) & units_complete(boxes)
