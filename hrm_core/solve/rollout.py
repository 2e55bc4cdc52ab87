"""The ACT loop run as evaluation runs it, with every step of every puzzle recorded.

Evaluation (`hrm_core.training.evaluation.run_evaluation`) starts each batch from `initial_carry` and calls
the model until every puzzle has halted; in eval mode that is `halt_max_steps` steps (the baseline with
`act_inference` may stop earlier), and the answer is the last step's argmax. `rollout` makes the same calls
in the same order on the same batches, so its last step is exactly evaluate's prediction, and records at
each step what evaluation throws away: the per-cell probability of the predicted token, the cells that
changed, both Q values, whether the model's own halting rule would stop here, and the inner cycles
(`trace.InnerCycleTrace`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hrm_core.solve.trace import InnerCycleTrace


@dataclass
class Step:
    """One ACT step of one puzzle."""

    prediction: np.ndarray  # [S] token ids (argmax of the logits)
    probability: np.ndarray  # [S] softmax probability of the predicted token
    changed: np.ndarray  # [K] cell indices whose prediction differs from the previous step's (step 1: from the input)
    q_halt: float  # logit
    q_continue: float  # logit
    halts: bool  # the model's own rule (q_halt > q_continue; TRM: q_halt > 0) says stop here
    cycles: list[np.ndarray] = field(default_factory=list)  # [S] predictions decoded after each inner cycle


@dataclass
class Trajectory:
    """Every ACT step of one puzzle, and the answer evaluation would report (the last step's)."""

    inputs: np.ndarray  # [S]
    labels: np.ndarray | None  # [S], when known
    puzzle_identifier: int
    steps: list[Step]
    cycle_unit: str  # "H-cycle" (HRM) or "recursion" (TRM family)

    @property
    def answer(self) -> np.ndarray:
        return self.steps[-1].prediction

    @property
    def halting_step(self) -> int:
        """1-based: the first step where the model's halting rule fires, else the last step."""
        return next((index for index, step in enumerate(self.steps, start=1) if step.halts), len(self.steps))

    def to_json(self) -> dict[str, Any]:
        return {
            "halting_step": self.halting_step,
            "steps_run": len(self.steps),
            "answer": self.answer.tolist(),
            "cycle_unit": self.cycle_unit,
            "steps": [{
                "step": index,
                "prediction": step.prediction.tolist(),
                "probability": [round(float(p), 6) for p in step.probability],
                "changed": step.changed.tolist(),
                "q_halt": step.q_halt,
                "q_continue": step.q_continue,
                "halts": step.halts,
                "cycles": [cycle.tolist() for cycle in step.cycles],
            } for index, step in enumerate(self.steps, start=1)],
        }


@torch.inference_mode()
def rollout_batch(act_model: torch.nn.Module, batch: dict[str, torch.Tensor], valid: int) -> list[list[Step]]:
    """The steps of the first `valid` rows of one (padded) batch, as evaluation runs it."""
    steps: list[list[Step]] = [[] for _ in range(valid)]
    previous = batch["inputs"][:valid].cpu().numpy()
    with InnerCycleTrace(act_model) as trace:
        carry = act_model.initial_carry(batch)
        while True:
            carry, outputs = act_model(carry=carry, batch=batch)
            logits = outputs["logits"][:valid].float()
            probability, prediction = torch.softmax(logits, dim=-1).max(dim=-1)
            prediction = torch.argmax(outputs["logits"][:valid], dim=-1).cpu().numpy()  # evaluate's own argmax
            q_halt, q_continue = outputs["q_halt_logits"][:valid], outputs["q_continue_logits"][:valid]
            halts = act_model.halts(q_halt, q_continue).cpu().numpy()
            cycles = [cycle[:valid].numpy() for cycle in trace.take()]
            for row in range(valid):
                steps[row].append(Step(
                    prediction=prediction[row],
                    probability=probability[row].cpu().numpy(),
                    changed=np.flatnonzero(prediction[row] != previous[row]),
                    q_halt=float(q_halt[row]),
                    q_continue=float(q_continue[row]),
                    halts=bool(halts[row]),
                    cycles=[cycle[row] for cycle in cycles],
                ))
            previous = prediction
            if bool(carry.halted.all()):
                return steps


def pad_batch(inputs: np.ndarray, puzzle_ids: np.ndarray, batch_size: int, blank_id: int, pad_id: int,
              device: torch.device) -> dict[str, torch.Tensor]:
    """A batch of `batch_size` rows: the puzzles, then padding rows as the evaluation loader pads."""
    rows = len(inputs)
    padded_inputs = np.full((batch_size, inputs.shape[1]), pad_id, dtype=np.int32)
    padded_inputs[:rows] = inputs
    padded_ids = np.full(batch_size, blank_id, dtype=np.int32)
    padded_ids[:rows] = puzzle_ids
    return {"inputs": torch.from_numpy(padded_inputs).to(device),
            "puzzle_identifiers": torch.from_numpy(padded_ids).to(device)}


def rollout(act_model: torch.nn.Module, inputs: np.ndarray, puzzle_ids: np.ndarray, *, batch_size: int,
            blank_id: int, pad_id: int, labels: Iterable[np.ndarray | None] | None = None) -> Iterator[Trajectory]:
    """Trajectories of puzzles [N, S] with their puzzle ids [N], `batch_size` at a time, in order.

    In eval mode a puzzle's outputs do not depend on the other rows, so a last batch runs unpadded.
    """
    device = next(act_model.parameters()).device
    labels = list(labels) if labels is not None else [None] * len(inputs)
    unit = InnerCycleTrace(act_model).unit
    for start in range(0, len(inputs), batch_size):
        end = min(len(inputs), start + batch_size)
        batch = pad_batch(inputs[start:end], puzzle_ids[start:end], end - start, blank_id, pad_id, device)
        for offset, steps in enumerate(rollout_batch(act_model, batch, end - start)):
            row = start + offset
            yield Trajectory(inputs=inputs[row], labels=labels[row], puzzle_identifier=int(puzzle_ids[row]),
                             steps=steps, cycle_unit=unit)
