"""Evaluators that score a whole evaluation pass beyond per-batch metrics, e.g. ARC pass@K by voting.

The trainer (`evaluators=[arc]`) and `python -m hrm_core.evaluate` use them the same way:

    evaluator = build_evaluator("arc", data_path=..., eval_metadata=...)
    evaluator.begin_eval()                        # before each evaluation: forget everything
    for batch, outputs in evaluation:             # CPU tensors
        evaluator.update_batch(batch, outputs)
    result = evaluator.result(save_dir)           # on every rank; the dict on rank 0, None elsewhere

`EVALUATORS` lists every evaluator by the name a config uses; there is no other way to reach one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist

from hrm_core.arc.scoring import (
    PASS_AT_KS,
    VoteTally,
    load_arc_dataset_names,
    load_references,
    make_submission,
    score,
    write_json,
)
from hrm_core.rundir.files import ARC_SCORES_FILE, SUBMISSION_FILE



class Evaluator(Protocol):
    # Model outputs the evaluator reads; the evaluation loop must ask the model for them (`return_keys`).
    required_outputs: tuple[str, ...]

    def begin_eval(self) -> None: ...

    def update_batch(self, batch: Mapping[str, torch.Tensor], outputs: Mapping[str, torch.Tensor]) -> None: ...

    def result(self, save_dir: Path | None) -> dict[str, Any] | None: ...


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


class ARCEvaluator:
    """ARC pass@K: de-augments every prediction, votes per test input, scores original puzzles.

    Reads `identifiers.json` and the test split's un-augmented puzzles (the right answers) from
    `data_path` once, when built. Each rank votes with its own batches; `result` pools the votes on rank 0.
    """

    # `preds` (argmax of the logits) is enough; `logits` also works, at a much larger cost to gather.
    required_outputs: tuple[str, ...] = ("preds", "q_halt_logits")

    def __init__(self, *, data_path: str | Path, eval_metadata: Any, split: str = "test"):
        self.identifiers = load_arc_dataset_names(data_path)
        self.references = load_references(data_path, split)
        self.blank_identifier_id = int(eval_metadata.blank_identifier_id)
        self.tally = self._new_tally()

    def _new_tally(self) -> VoteTally:
        return VoteTally(self.identifiers, self.references, self.blank_identifier_id)

    def begin_eval(self) -> None:
        # A fresh tally per evaluation: votes for one checkpoint must never count for the next.
        self.tally = self._new_tally()

    def update_batch(self, batch: Mapping[str, torch.Tensor], outputs: Mapping[str, torch.Tensor]) -> None:
        if "preds" in outputs:
            preds = outputs["preds"]
        elif "logits" in outputs:
            preds = outputs["logits"].argmax(-1)
        else:
            raise KeyError("the ARC evaluator needs the model output 'preds' (or 'logits'); add it to return_keys")
        self.tally.add(
            puzzle_ids=_numpy(batch["puzzle_identifiers"]),
            inputs=_numpy(batch["inputs"]),
            preds=_numpy(preds),
            q_halt_logits=_numpy(outputs["q_halt_logits"]),
        )

    def result(self, save_dir: Path | None) -> dict[str, Any] | None:
        """Scores on rank 0 (None on other ranks); call it on every rank, it gathers across them.

        With `save_dir`, also writes `submission.json` (ARC Prize format) and `arc_scores.json` (the scores
        plus each puzzle's solving rank) there.
        """
        mine = (self.tally.votes, self.tally.num_predictions, self.tally.num_unmatched)
        if _distributed() and dist.get_world_size() > 1:
            gathered: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
            dist.gather_object(mine, gathered, dst=0)
            if dist.get_rank() != 0:
                return None
            pooled = self._new_tally()
            for votes, num_predictions, num_unmatched in gathered or []:
                pooled.merge(votes, num_predictions, num_unmatched)
        else:
            pooled = self.tally

        scores = score(pooled, PASS_AT_KS).to_json()
        if save_dir is not None:
            Path(save_dir).mkdir(parents=True, exist_ok=True)
            write_json(Path(save_dir) / SUBMISSION_FILE, make_submission(pooled))
            write_json(Path(save_dir) / ARC_SCORES_FILE, scores)
        # The returned summary goes into events.jsonl at every evaluation: leave the per-puzzle ranks in the file.
        return {k: v for k, v in scores.items() if k != "puzzle_ranks"}


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    # numpy has no bfloat16; q_halt logits in bfloat16 become float32, token ids stay integers.
    if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.to(torch.float32)
    return tensor.numpy()


# Every evaluator a config can name (`evaluators=[arc]`).
EVALUATORS: dict[str, type] = {
    "arc": ARCEvaluator,
}


def build_evaluator(name: str, *, data_path: str | Path, eval_metadata: Any) -> Evaluator:
    if name not in EVALUATORS:
        raise ValueError(f"unknown evaluator {name!r}; known evaluators: {', '.join(sorted(EVALUATORS))}")
    return EVALUATORS[name](data_path=data_path, eval_metadata=eval_metadata)
