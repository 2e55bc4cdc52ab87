"""Mazes: a generator of hard mazes with a unique shortest path, and shortest-path checks.

A maze is an n x n uint8 grid of codes into the original's charset `# SGo`: 0 wall, 1 open, 2 start,
3 goal, 4 path (labels only: the open cells on the shortest path from start to goal).

Generation: a random depth-first "perfect" maze on a lattice of rooms (every two rooms joined by exactly
one route), then a fraction of the remaining inner walls knocked down so that routes branch and merge
and the solver must compare alternatives. The start is a random room; the goal is a random cell whose
shortest path from the start is unique and at least `min_path_length` steps long (hard mazes, as the
original's Maze-Hard set, have long shortest paths).
"""

from __future__ import annotations

from collections import deque

import numpy as np

WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4
CHARSET = "# SGo"
_STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def shortest_paths(maze: np.ndarray, start: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first search from `start` over non-wall cells.

    Returns (distance [n, n] int, -1 where unreachable; path count [n, n] int, the number of distinct
    shortest paths from start, capped at 2 since only uniqueness matters).
    """
    rows, cols = maze.shape
    passable = maze != WALL
    distance = np.full(maze.shape, -1, dtype=np.int64)
    count = np.zeros(maze.shape, dtype=np.int64)
    distance[start] = 0
    count[start] = 1
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        next_distance = distance[r, c] + 1
        for dr, dc in _STEPS:
            nr, nc = r + dr, c + dc
            if 0 <= nr < rows and 0 <= nc < cols and passable[nr, nc]:
                if distance[nr, nc] < 0:
                    distance[nr, nc] = next_distance
                    count[nr, nc] = count[r, c]
                    queue.append((nr, nc))
                elif distance[nr, nc] == next_distance:
                    count[nr, nc] = min(2, count[nr, nc] + count[r, c])
    return distance, count


def trace_path(distance: np.ndarray, goal: tuple[int, int]) -> list[tuple[int, int]]:
    """The cells from start to `goal` (inclusive) walking down the distance field; unique when the path is."""
    path = [goal]
    r, c = goal
    while distance[r, c] > 0:
        for dr, dc in _STEPS:
            nr, nc = r + dr, c + dc
            if 0 <= nr < distance.shape[0] and 0 <= nc < distance.shape[1] and distance[nr, nc] == distance[r, c] - 1:
                r, c = nr, nc
                break
        path.append((r, c))
    return path[::-1]


def _perfect_maze(side: int, rng: np.random.Generator) -> np.ndarray:
    """Rooms at odd coordinates joined into a spanning tree by randomised depth-first search."""
    maze = np.full((side, side), WALL, dtype=np.uint8)
    rooms = (side - 1) // 2
    visited = np.zeros((rooms, rooms), dtype=bool)
    stack = [(int(rng.integers(rooms)), int(rng.integers(rooms)))]
    visited[stack[0]] = True
    maze[2 * stack[0][0] + 1, 2 * stack[0][1] + 1] = OPEN
    while stack:
        r, c = stack[-1]
        neighbours = [(r + dr, c + dc) for dr, dc in _STEPS if 0 <= r + dr < rooms and 0 <= c + dc < rooms and not visited[r + dr, c + dc]]
        if not neighbours:
            stack.pop()
            continue
        nr, nc = neighbours[int(rng.integers(len(neighbours)))]
        visited[nr, nc] = True
        maze[2 * nr + 1, 2 * nc + 1] = OPEN
        maze[r + nr + 1, c + nc + 1] = OPEN  # the wall between the two rooms
        stack.append((nr, nc))
    return maze


def _knock_down_walls(maze: np.ndarray, fraction: float, rng: np.random.Generator) -> None:
    """Open `fraction` of the walls that separate two rooms (adds loops)."""
    side = maze.shape[0]
    inner = 2 * ((side - 1) // 2)
    candidates = [
        (r, c)
        for r in range(1, inner)
        for c in range(1, inner)
        if maze[r, c] == WALL and ((r % 2 == 1 and c % 2 == 0) or (r % 2 == 0 and c % 2 == 1))
    ]
    if not candidates:
        return
    chosen = rng.choice(len(candidates), size=int(round(fraction * len(candidates))), replace=False)
    for index in chosen:
        maze[candidates[index]] = OPEN


def generate_maze(side: int, rng: np.random.Generator, *, min_path_length: int, loop_fraction: float = 0.04, max_tries: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(input, label) codes [side, side]: the maze with S and G, and the same with the path marked."""
    for _ in range(max_tries):
        maze = _perfect_maze(side, rng)
        _knock_down_walls(maze, loop_fraction, rng)
        open_cells = np.argwhere(maze == OPEN)
        start = tuple(int(x) for x in open_cells[rng.integers(len(open_cells))])
        distance, count = shortest_paths(maze, start)
        goals = np.argwhere((distance >= min_path_length) & (count == 1))
        if not len(goals):
            continue
        goal = tuple(int(x) for x in goals[rng.integers(len(goals))])
        question = maze.copy()
        question[start], question[goal] = START, GOAL
        answer = question.copy()
        for cell in trace_path(distance, goal)[1:-1]:
            answer[cell] = PATH
        return question, answer
    raise RuntimeError(f"no {side}x{side} maze with a unique shortest path of {min_path_length}+ steps in {max_tries} tries; lower --min-path-length")


def is_unique_shortest_path(question: np.ndarray, answer: np.ndarray) -> bool:
    """Whether `answer` marks exactly the cells of the unique shortest start-goal path of `question`."""
    starts, goals = np.argwhere(question == START), np.argwhere(question == GOAL)
    if len(starts) != 1 or len(goals) != 1:
        return False
    start, goal = tuple(starts[0]), tuple(goals[0])
    distance, count = shortest_paths(question, start)
    if distance[goal] < 0 or count[goal] != 1:
        return False
    expected = question.copy()
    for cell in trace_path(distance, goal)[1:-1]:
        expected[cell] = PATH
    return bool(np.array_equal(expected, answer))
