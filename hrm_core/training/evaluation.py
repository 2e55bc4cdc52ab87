"""The evaluation pass run every `eval_interval` epochs (the original's `evaluate`).

Every test example is run once: a fresh carry per batch, ACT steps until every sequence of the batch has
halted (evaluation always runs halt_max_steps). Per set, metric sums are reduced to rank 0 and divided by
`count` (the original's eval normalisation: losses too). Besides the metrics, rank 0 gets per set the
halting-step histogram, a few sample predictions for viewers, and the results of the configured evaluators
(e.g. ARC pass@K); `eval_save_outputs` tensors are saved per rank as the original does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from hrm_core.data.format import DatasetMetadata
from hrm_core.data.loader import PuzzleSplit, eval_batches
from hrm_core.models.losses import IGNORE_LABEL_ID
from hrm_core.rundir.files import eval_outputs_file
from hrm_core.training.distributed import DistContext
from hrm_core.training.metric_sums import halting_counts


@dataclass
class EvalResult:
    """Rank 0's view of one evaluation (other ranks get empty dicts)."""

    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # set -> normalised metrics
    halting: dict[str, list[int]] = field(default_factory=dict)  # set -> counts for 1..halt_max_steps
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # set -> sample predictions
    evaluator_results: dict[str, dict[str, Any]] = field(default_factory=dict)  # evaluator name -> result


def _sample_records(batch: dict[str, torch.Tensor], preds: torch.Tensor, q_halt: torch.Tensor, steps: torch.Tensor,
                    count: int, metadata: DatasetMetadata, identifiers: list[str] | None) -> list[dict[str, Any]]:
    """The first `count` rows as `samples` entries (docs/run-directory.md)."""
    records = []
    restore = metadata.ignore_label_id if metadata.ignore_label_id is not None else metadata.pad_id
    for row in range(min(count, preds.shape[0])):
        labels = batch["labels"][row]
        mask = labels != IGNORE_LABEL_ID
        puzzle_id = int(batch["puzzle_identifiers"][row])
        if puzzle_id == metadata.blank_identifier_id:
            # Sudoku and maze datasets give every puzzle the blank id; rank 0's first rows are the set's first
            # examples, so the row number names the puzzle.
            name = f"example {row + 1}"
        elif identifiers is not None and puzzle_id < len(identifiers):
            name = identifiers[puzzle_id]
        else:
            name = f"puzzle {puzzle_id}"
        records.append({
            "name": name,
            "puzzle_id": puzzle_id,
            "input": batch["inputs"][row].tolist(),
            "label": torch.where(mask, labels, restore).tolist(),  # the dataset's own tokens
            "prediction": preds[row].tolist(),
            "q_halt": float(q_halt[row]),
            "q_halt_prob": float(torch.sigmoid(q_halt[row].float())),
            "steps": int(steps[row]),
            "exact": bool((preds[row][mask] == labels[mask]).all()),
        })
    return records


@torch.inference_mode()
def run_evaluation(model: nn.Module, split: PuzzleSplit, *, ctx: DistContext, global_batch_size: int, halt_max_steps: int,
                   num_samples: int, identifiers: list[str] | None, save_outputs: list[str], save_dir: Path | None,
                   evaluators: dict[str, Any], step: int, on_batch: Callable[[], None] | None = None,
                   evaluator_datasets: dict[str, int] | None = None) -> EvalResult:
    """`step` names the saved outputs file (step_<N>_all_preds.<rank>); `on_batch` is called after every batch
    (the trainer's progress clock); `evaluator_datasets` binds an evaluator to the batches of one of the split's
    dataset folders (by index): an evaluator it does not name sees every batch."""
    evaluator_datasets = evaluator_datasets or {}
    metadata = split.metadata
    set_ids = {name: i for i, name in enumerate(metadata.sets)}
    wanted = set(save_outputs) | {"logits", "q_halt_logits"}
    for evaluator in evaluators.values():
        wanted |= set(getattr(evaluator, "required_outputs", ()))
    return_keys = sorted(wanted - {"preds"})  # preds is computed here from the logits
    for evaluator in evaluators.values():
        evaluator.begin_eval()

    metric_keys: list[str] | None = None
    sums: torch.Tensor | None = None  # [num_sets, num_metrics]
    # float32 sums over batches and ranks, as both originals keep them: a float64 sum would be more exact but
    # would differ from the originals' eval metrics in the last bits (docs/training.md, same numbers).
    dtype = torch.float32
    halting = torch.zeros(len(set_ids), halt_max_steps, dtype=torch.int64, device=ctx.device)
    samples: dict[str, list[dict[str, Any]]] = {}
    saved: dict[str, list[torch.Tensor]] = {}

    for batch in eval_batches(split, global_batch_size=global_batch_size, rank=ctx.rank, world_size=ctx.world_size):
        tensors = {k: v.to(ctx.device, non_blocking=True) for k, v in batch.tensors.items()}
        carry = model.initial_carry(tensors)  # type: ignore[operator]
        while True:
            carry, _, metrics, outputs, all_halted = model(carry=carry, batch=tensors, return_keys=return_keys)
            if all_halted:
                break
        outputs = dict(outputs)
        outputs["preds"] = torch.argmax(outputs["logits"], dim=-1)

        set_id = set_ids[batch.set_name]
        if metric_keys is None:
            metric_keys = sorted(metrics)
            sums = torch.zeros(len(set_ids), len(metric_keys), dtype=dtype, device=ctx.device)
        assert sums is not None
        sums[set_id] += torch.stack([metrics[k].to(dtype) for k in metric_keys])
        valid = batch.local_valid
        halting[set_id] += halting_counts(carry.steps[:valid], torch.ones(valid, dtype=torch.bool, device=ctx.device), halt_max_steps)

        if ctx.is_main and num_samples and batch.set_name not in samples and valid > 0:
            samples[batch.set_name] = _sample_records(batch.tensors, outputs["preds"].cpu(), outputs["q_halt_logits"].cpu(),
                                                      carry.steps.cpu(), min(num_samples, valid), metadata, identifiers)
        if evaluators and valid > 0:
            cpu_batch = {k: v[:valid] for k, v in batch.tensors.items()}
            cpu_outputs = {k: v[:valid].cpu() for k, v in outputs.items()}
            for name, evaluator in evaluators.items():
                if evaluator_datasets.get(name, batch.dataset_index) == batch.dataset_index:
                    evaluator.update_batch(cpu_batch, cpu_outputs)
        for key in save_outputs:
            source = tensors if key in tensors else outputs
            if key in source:
                saved.setdefault(key, []).append(source[key].cpu())
        if on_batch is not None:
            on_batch()

    if saved and save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        torch.save({k: torch.cat(v) for k, v in saved.items()}, save_dir / eval_outputs_file(step, ctx.rank))

    result = EvalResult()
    if sums is not None and metric_keys is not None:
        if ctx.distributed:
            dist.reduce(sums, dst=0)
            dist.reduce(halting, dst=0)
        if ctx.is_main:
            table = sums.cpu().tolist()
            for set_name, set_id in set_ids.items():
                values = dict(zip(metric_keys, table[set_id]))
                count = max(values.get("count", 0.0), 1.0)
                result.metrics[set_name] = {k: v / count for k, v in values.items() if k != "count"} | {"count": values.get("count", 0.0)}
                result.halting[set_name] = [int(c) for c in halting[set_id].cpu().tolist()]
            result.samples = samples
    for name, evaluator in evaluators.items():
        # One evaluator writes into the eval folder itself; several each into a sub-folder of their name.
        target = save_dir if save_dir is None or len(evaluators) == 1 else save_dir / name
        outcome = evaluator.result(target)
        if ctx.is_main and outcome is not None:
            result.evaluator_results[name] = outcome
    return result
