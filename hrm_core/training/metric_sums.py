"""Metric accumulation, reduction to rank 0, and the original's normalisation.

The model returns *sums* per step (`count` halted sequences, their `accuracy`, `exact_accuracy`, `steps`,
..., and losses summed over the batch). Sums add up over steps and ranks, so a logging window is one
on-device running sum, reduced to rank 0 once per window:

    keys ending in "loss"  /  (global_batch_size * steps in the window)
    every other key        /  count (sequences that halted in the window)

which for a one-step window is exactly the original's normalisation.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from hrm_core.training.distributed import DistContext


def normalise(sums: dict[str, float], *, loss_divisor: float) -> dict[str, float]:
    """The original's normalisation; `count` itself is kept as the number of sequences.

    When no sequence halted in the window (count 0), the per-sequence metrics (accuracy, steps, ...) have
    no value: they are left out rather than reported as 0, which the original did and which draws a false
    "accuracy 0" at every step of early training where all slots are still thinking.
    """
    count = sums.get("count", 0.0)
    out = {k: v / (loss_divisor if k.endswith("loss") else count) for k, v in sums.items()
           if k != "count" and (k.endswith("loss") or count > 0)}
    out["count"] = count
    return out


def halting_counts(steps: torch.Tensor, halted: torch.Tensor, halt_max_steps: int) -> torch.Tensor:
    """[halt_max_steps] int64: how many of the halted sequences took 1, 2, ... ACT steps."""
    taken = steps[halted].to(torch.int64).clamp(1, halt_max_steps) - 1
    return torch.bincount(taken, minlength=halt_max_steps)[:halt_max_steps]


class WindowAccumulator:
    """Running metric sums and halting counts of one rank over a logging window, kept on the device."""

    def __init__(self, halt_max_steps: int, device: torch.device):
        self.halt_max_steps = halt_max_steps
        self.device = device
        self.keys: list[str] | None = None
        self.sums: torch.Tensor | None = None
        self.halting = torch.zeros(halt_max_steps, dtype=torch.int64, device=device)
        self.steps = 0
        # float64 keeps long windows of large sums exact; MPS has no float64.
        self.dtype = torch.float32 if device.type == "mps" else torch.float64

    def add(self, metrics: dict[str, torch.Tensor], steps: torch.Tensor, halted: torch.Tensor) -> None:
        if self.keys is None:
            self.keys = sorted(metrics)  # the same order on every rank
        values = torch.stack([metrics[k].detach().to(self.dtype) for k in self.keys])
        self.sums = values if self.sums is None else self.sums + values
        self.halting += halting_counts(steps, halted, self.halt_max_steps)
        self.steps += 1

    def reduce(self, ctx: DistContext) -> tuple[dict[str, float], list[int], int] | None:
        """(metric sums, halting counts, steps in window) summed over ranks, on rank 0; then resets."""
        if self.sums is None or self.keys is None:
            return None
        packed = torch.cat([self.sums, self.halting.to(self.dtype)])
        if ctx.distributed:
            dist.reduce(packed, dst=0)
        keys, steps = self.keys, self.steps
        self.sums, self.steps = None, 0
        self.halting = torch.zeros(self.halt_max_steps, dtype=torch.int64, device=self.device)
        if not ctx.is_main:
            return None
        values = packed.cpu().tolist()
        sums = dict(zip(keys, values[: len(keys)]))
        halting = [int(round(v)) for v in values[len(keys):]]
        return sums, halting, steps
