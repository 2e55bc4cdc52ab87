"""Use a trained model: solve puzzles with a checkpoint and record how it got there.

    python -m hrm_core.solve checkpoint=PATH puzzle=FILE|-        one puzzle (Sudoku, Maze text, ARC task JSON)
    python -m hrm_core.solve checkpoint=PATH split=test           every example of the run's dataset split

Modules, one job each:

- `model`: the checkpoint loaded for inference, through `hrm_core.evaluate`'s own loader;
- `puzzles`: puzzle text and ARC JSON -> token sequences the checkpoint's dataset encodes, with clear errors;
- `trace`: the model's inner cycles (HRM's H-cycles, TRM's recursions) decoded through the output head;
- `rollout`: the ACT loop run as evaluation runs it, with every step recorded (a `Trajectory` per puzzle);
- `report`: the answer printed for people (ARC in colour on a terminal) or as JSON;
- `__main__`: the command line.

docs/solve.md describes the command and its output.
"""
