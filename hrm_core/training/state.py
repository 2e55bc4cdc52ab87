"""The training position, a checkpoint part (`state_dict()`, docs/checkpoints.md).

The learning-rate schedule is a pure function of `step`, so the step counter is its whole state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TrainProgress:
    step: int = 0  # optimizer steps done (the original's train_state.step)
    pass_index: int = 0  # the pass (eval_interval epochs) in progress, or the next one to start
    total_steps: int = 0
    eval_started: bool = False  # an evaluation has run (the originals' eval loader drew its seed then)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "pass_index": self.pass_index, "total_steps": self.total_steps,
                "eval_started": self.eval_started}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.pass_index = int(state["pass_index"])
        self.total_steps = int(state["total_steps"])
        # Checkpoints written before the flag existed evaluated after every pass.
        self.eval_started = bool(state.get("eval_started", self.pass_index > 0))
