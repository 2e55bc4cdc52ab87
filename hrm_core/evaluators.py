"""Evaluators that score a whole evaluation pass beyond per-batch metrics, e.g. ARC pass@K by voting.

The trainer (`evaluators=[arc]`, or TRM's form `evaluators=[{name: arc@ARC, submission_K: 2}]`) and
`python -m hrm_core.evaluate` use them the same way:

    evaluator = build_evaluator("arc", data_path=..., eval_metadata=..., **options)
    evaluator.begin_eval()                        # before each evaluation: forget (or keep) the votes
    for batch, outputs in evaluation:             # CPU tensors
        evaluator.update_batch(batch, outputs)
    result = evaluator.result(save_dir)           # on every rank; the dict on rank 0, None elsewhere

`EVALUATORS` lists every evaluator by the name a config uses; there is no other way to reach one.
`REFERENCE_NAMES` maps the TRM reference's names for them (`arc@ARC`) to ours plus the reference's defaults
where they differ from ours; `resolve_entry` turns a config entry into `{"name": ..., **options}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist

from hrm_core.arc.scoring import (
    PASS_AT_KS,
    ARCReferences,
    VoteTally,
    VotingRule,
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


@dataclass(frozen=True)
class EvaluatorOption:
    """A keyword option an evaluator takes from its config entry."""

    kind: str  # "int" (positive), "int list" (positive, non-empty) or "bool"
    help: str


class ARCEvaluator:
    """ARC pass@K: de-augments every prediction, votes per test input, scores original puzzles.

    Reads `identifiers.json` and the test split's un-augmented puzzles (the right answers) from
    `data_path` once, when built. Each rank votes with its own batches; `result` pools the votes on rank 0.
    The options are the TRM reference's ARC evaluator's (`evaluators/arc.py`).
    """

    # `preds` (argmax of the logits) is enough; `logits` also works, at a much larger cost to gather.
    required_outputs: tuple[str, ...] = ("preds", "q_halt_logits")
    options: dict[str, EvaluatorOption] = {
        "submission_K": EvaluatorOption("int", "attempts per test input in submission.json (ARC Prize: 2)"),
        "pass_Ks": EvaluatorOption("int list", f"the K of the pass@K scores (default {list(PASS_AT_KS)})"),
        "aggregated_voting": EvaluatorOption("bool", "keep the votes of earlier evaluations of the run, so every "
                                                     "evaluation scores all of them together (TRM's default)"),
        "departure_tie_break_by_grid": EvaluatorOption(
            "bool", "a departure from the originals: exact ties go to the smaller grid, not the one voted first, "
                    "so scores do not depend on the order of rows (the number of processes)"),
        "departure_skip_empty_attempts": EvaluatorOption(
            "bool", "a departure from TRM: submission.json leaves empty grids out instead of writing []"),
    }

    def __init__(self, *, data_path: str | Path, eval_metadata: Any, split: str = "test", **options: Any):
        self._configure(load_arc_dataset_names(data_path), load_references(data_path, split),
                        int(eval_metadata.blank_identifier_id), **options)

    @classmethod
    def from_references(cls, identifiers: list[str], references: ARCReferences, blank_identifier_id: int = 0,
                        **options: Any) -> "ARCEvaluator":
        """An evaluator over puzzles held in memory (`python -m hrm_core.solve` votes this way), not a dataset."""
        evaluator = cls.__new__(cls)
        evaluator._configure(list(identifiers), references, blank_identifier_id, **options)
        return evaluator

    def _configure(self, identifiers: list[str], references: ARCReferences, blank_identifier_id: int, *,
                   submission_K: int = 2, pass_Ks: tuple[int, ...] | list[int] = PASS_AT_KS,
                   aggregated_voting: bool = False, departure_tie_break_by_grid: bool = False,
                   departure_skip_empty_attempts: bool = False) -> None:
        self.identifiers = identifiers
        self.references = references
        self.blank_identifier_id = blank_identifier_id
        self.submission_attempts = int(submission_K)
        self.pass_ks = tuple(int(k) for k in pass_Ks)
        self.aggregated_voting = bool(aggregated_voting)
        self.rule = VotingRule(departure_tie_break_by_grid=bool(departure_tie_break_by_grid),
                               departure_skip_empty_attempts=bool(departure_skip_empty_attempts))
        self.tally = self._new_tally()

    def _new_tally(self) -> VoteTally:
        return VoteTally(self.identifiers, self.references, self.blank_identifier_id, self.rule)

    def begin_eval(self) -> None:
        # A fresh tally per evaluation: votes for one checkpoint never count for the next, unless the config
        # asks for TRM's aggregated voting (votes of every evaluation of this process pooled).
        if not self.aggregated_voting:
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

        scores = score(pooled, self.pass_ks).to_json()
        if save_dir is not None:
            Path(save_dir).mkdir(parents=True, exist_ok=True)
            write_json(Path(save_dir) / SUBMISSION_FILE, make_submission(pooled, attempts=self.submission_attempts))
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

# The TRM reference's names (`module@Class` in its evaluators/ folder) -> (our name, the reference's defaults
# where ours differ). TRM's ARC evaluator keeps the votes of earlier evaluations by default.
REFERENCE_NAMES: dict[str, tuple[str, dict[str, Any]]] = {
    "arc@ARC": ("arc", {"aggregated_voting": True}),
}


def resolve_entry(entry: Any) -> dict[str, Any]:
    """A config entry (a name, or a mapping with `name` and options) as `{"name": ours, **options}`.

    Raises ValueError saying what is wrong: an unknown name or option, an option of the wrong type.
    """
    if isinstance(entry, str):
        raw: dict[str, Any] = {"name": entry}
    elif isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
        raw = dict(entry)
    else:
        raise ValueError(f"an evaluator is a name or a mapping with a `name`, e.g. arc or {{name: arc@ARC}}; got {entry!r}")
    name = raw.pop("name")
    if name in REFERENCE_NAMES:
        name, defaults = REFERENCE_NAMES[name]
        raw = defaults | raw
    if name not in EVALUATORS:
        known = sorted(EVALUATORS) + sorted(REFERENCE_NAMES)
        raise ValueError(f"unknown evaluator {name!r}; known evaluators: {', '.join(known)}")
    options: dict[str, EvaluatorOption] = EVALUATORS[name].options
    for key, value in raw.items():
        if key not in options:
            raise ValueError(f"the {name} evaluator has no option {key!r}; its options: {', '.join(options)}")
        kind = options[key].kind
        positive_int = lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0  # noqa: E731
        ok = (positive_int(value) if kind == "int" else isinstance(value, bool) if kind == "bool"
              else isinstance(value, (list, tuple)) and len(value) > 0 and all(positive_int(v) for v in value))
        if not ok:
            expected = {"int": "a positive integer", "bool": "true or false", "int list": "a list of positive integers"}[kind]
            raise ValueError(f"the {name} evaluator's option {key} must be {expected} ({options[key].help}); got {value!r}")
    return {"name": name, **{k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}}


def build_evaluator(name: str, *, data_path: str | Path, eval_metadata: Any, **options: Any) -> Evaluator:
    if name not in EVALUATORS:
        raise ValueError(f"unknown evaluator {name!r}; known evaluators: {', '.join(sorted(EVALUATORS))}")
    return EVALUATORS[name](data_path=data_path, eval_metadata=eval_metadata, **options)
