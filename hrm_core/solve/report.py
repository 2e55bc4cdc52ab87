"""A trajectory for people (the answer grid, the halting step, the Q values) or as JSON.

Grids come back in the puzzle's own terms: Sudoku digits (0 = blank), maze characters, ARC colours cropped
at EOS. On a terminal ARC answers are drawn in their colours (`hrm_core.data.render.render_arc`); piped,
every grid is plain text. Names read from files pass through `safe_text` before they reach a terminal.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.text import Text

from hrm_core.arc.scoring import crop_at_eos
from hrm_core.data.render import render_arc
from hrm_core.rundir.sanitize import safe_text
from hrm_core.solve.rollout import Trajectory


def answer_grid(tokens: np.ndarray, puzzle: dict[str, Any]) -> list[list[Any]]:
    """The answer in the puzzle's terms: ARC colours (cropped), Sudoku digits, maze characters, else tokens."""
    kind = puzzle.get("kind")
    tokens = np.asarray(tokens, dtype=np.int64)
    if kind == "arc":
        return crop_at_eos(tokens).tolist()
    rows, cols = (int(n) for n in puzzle["grid_shape"])
    grid = tokens.reshape(rows, cols)
    offset = int(puzzle.get("vocab_offset", 0))
    if kind == "sudoku":
        return np.clip(grid - offset, 0, None).tolist()
    if kind == "maze":
        charset = str(puzzle.get("charset", "# SGo"))
        return [["".join(charset[v - offset] if 0 <= v - offset < len(charset) else "?" for v in row)] for row in grid]
    return grid.tolist()


def plain_grid(grid: list[list[Any]], puzzle: dict[str, Any]) -> str:
    kind = puzzle.get("kind")
    if kind == "maze":
        return "\n".join(row[0] for row in grid)
    if kind == "sudoku":
        return "\n".join("".join("." if v == 0 else str(v) for v in row) for row in grid)
    if kind == "arc":
        return "\n".join("".join(str(v) for v in row) for row in grid) if grid else "(empty grid)"
    return "\n".join(" ".join(str(v) for v in row) for row in grid)


def trajectory_json(name: str, trajectory: Trajectory, puzzle: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    record = {"name": name, "puzzle_identifier": trajectory.puzzle_identifier, "note": note,
              "answer_grid": answer_grid(trajectory.answer, puzzle)}
    if trajectory.labels is not None:
        record["exact"] = bool(np.array_equal(trajectory.answer, trajectory.labels))
    return record | trajectory.to_json()


def print_trajectory(console: Console, name: str, trajectory: Trajectory, puzzle: dict[str, Any],
                     note: str | None = None) -> None:
    """The answer, the halting step and the Q values of every step."""
    steps = len(trajectory.steps)
    console.print(Text(f"puzzle {safe_text(name)}", style="bold"))
    if note:
        console.print(Text(f"note: {safe_text(note)}", style="yellow"))
    grid = answer_grid(trajectory.answer, puzzle)
    title = (f"answer after {steps} ACT step{'s' if steps != 1 else ''} (what evaluate predicts); "
             f"the model's halting rule fires at step {trajectory.halting_step}")
    if trajectory.labels is not None:
        title += "; exact" if np.array_equal(trajectory.answer, trajectory.labels) else "; not the known answer"
    console.print(title)
    if puzzle.get("kind") == "arc" and console.is_terminal and grid:
        console.print(render_arc(np.asarray(grid)))
    else:
        console.print(Text(plain_grid(grid, puzzle)))
    console.print(f"{'step':>4} {'q_halt':>9} {'q_continue':>10}  {'halts':<5} changed")
    for index, step in enumerate(trajectory.steps, start=1):
        console.print(f"{index:>4} {step.q_halt:>9.4f} {step.q_continue:>10.4f}  {'yes' if step.halts else 'no':<5} "
                      f"{len(step.changed)}")
