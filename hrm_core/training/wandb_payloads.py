"""What the Weights & Biases mirror logs: the originals' keys and values, and hrm's extras beside them.

Dashboards and reports built on runs of the HRM and TRM originals (their `pretrain.py`) must work on hrm's
runs unchanged, so the payloads are theirs:

    step 0 (start)       num_params
    every logged step    train/<metric>       losses / global_batch_size, every other metric / max(count, 1)
                         train/count          count / max(count, 1), i.e. 1 (0 when nothing halted)
                         train/lr
    every evaluation     <set>: {<metric>: value / count}   a nested dict (W&B shows `all.accuracy`), no count
                         ARC/pass@<K>          TRM's ARC evaluator: test inputs solved, averaged per puzzle

hrm's own numbers that the originals do not log go under `hrm/...` (EXTRA_PREFIX), which no original key
uses: the originals' keys are `num_params`, `train/...`, a set name holding a nested dict, and
`<evaluator class>/pass@K`. The events log (events.jsonl) stays the complete record; this is a mirror.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXTRA_PREFIX = "hrm/"


def start_payload(num_params: int) -> dict[str, Any]:
    return {"num_params": num_params}


def train_payload(sums: Mapping[str, float], *, loss_divisor: float, lr: float) -> dict[str, Any]:
    """`sums`: the window's raw metric sums (count = sequences that halted). A one-step window (log_interval=1,
    the original's logging) gives exactly the original's values; a longer one, their mean over the window."""
    count = sums.get("count", 0.0)
    per_sequence = max(count, 1.0)  # the originals' guard: with nothing halted, accuracy etc. log as 0
    payload: dict[str, Any] = {f"train/{k}": v / (loss_divisor if k.endswith("loss") else per_sequence) for k, v in sums.items()}
    payload["train/lr"] = lr
    payload[f"{EXTRA_PREFIX}train/count"] = count  # the number of sequences, which train/count is not
    return payload


def eval_payload(set_metrics: Mapping[str, Mapping[str, float]],
                 evaluator_results: Mapping[str, tuple[str | None, Mapping[str, Any]]]) -> dict[str, Any]:
    """One evaluation as one W&B row.

    `set_metrics`: per set, the per-sequence means plus the raw `count` (hrm_core.training.evaluation).
    `evaluator_results`: per evaluator (hrm's name), the TRM reference's class name for it or None, and its
    result. TRM logs every ARC evaluator under the one prefix `ARC/`, so with several the last one's numbers
    stand there, as in TRM; each one's are also under `hrm/<name>/`.
    """
    payload: dict[str, Any] = {}
    for set_name, metrics in set_metrics.items():
        payload[set_name] = {k: v for k, v in metrics.items() if k != "count"}
        payload[f"{EXTRA_PREFIX}{set_name}/count"] = metrics.get("count", 0.0)
    for name, (reference_name, outcome) in evaluator_results.items():
        test_fraction = outcome.get("pass_at_test_fraction") or {}
        whole_puzzle = outcome.get("pass_at") or {}
        if reference_name is not None:
            payload.update({f"{reference_name}/pass@{k}": v for k, v in test_fraction.items()})
        payload.update({f"{EXTRA_PREFIX}{name}/pass@{k}": v for k, v in test_fraction.items()})
        # hrm's stricter figure: a puzzle counts only when every one of its test inputs is solved.
        payload.update({f"{EXTRA_PREFIX}{name}/pass@{k}_all_tests": v for k, v in whole_puzzle.items()})
    return payload


def reference_evaluator_name(evaluator_class: type) -> str | None:
    """The TRM reference's class name for an evaluator class (`arc@ARC` -> `ARC`), the prefix TRM logs it under;
    None for an evaluator the reference does not have."""
    from hrm_core.evaluators import EVALUATORS, REFERENCE_NAMES

    ours = next((name for name, cls in EVALUATORS.items() if evaluator_class is cls), None)
    return next((ref.split("@")[-1] for ref, (name, _) in REFERENCE_NAMES.items() if name == ours), None)
