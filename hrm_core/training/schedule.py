"""The learning-rate schedule: linear warm-up, then a cosine decay to `lr_min_ratio` of the peak.

Same formula as the original's `cosine_schedule_with_warmup_lr_lambda`; it is a pure function of the step,
so the schedule's position in a checkpoint is just the step counter.
"""

from __future__ import annotations

import math


def cosine_lr(step: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_ratio: float, num_cycles: float = 0.5) -> float:
    if step < warmup_steps:
        return base_lr * step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * (min_ratio + max(0.0, (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))))


def total_train_steps(*, epochs: int, total_groups: int, mean_puzzle_examples: float, global_batch_size: int) -> int:
    """The original's estimate: one puzzle per group per epoch, of mean size, in global batches."""
    return int(epochs * total_groups * mean_puzzle_examples / global_batch_size)
