"""Exponential moving average of the dense weights (as in the follow-up TRM work).

ema <- rate * ema + (1 - rate) * weights after every optimizer step. Only parameters are averaged; buffers
(the puzzle-embedding table, trained sparsely) are used as they are. Evaluation and checkpoints use the EMA
weights when it is on (`swapped_in`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, rate: float):
        self.rate = rate
        self.params = [p for p in model.parameters()]
        self.shadow = [p.detach().clone().float() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.shadow, [p.detach().float() for p in self.params], 1.0 - self.rate)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Inside the block the model's parameters hold the EMA weights; the training weights come back after."""
        backup = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, b in zip(self.params, backup):
                    p.copy_(b)

    def state_dict(self) -> dict[str, object]:
        return {"rate": self.rate, "shadow": [s.cpu() for s in self.shadow]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        shadow = state["shadow"]
        assert isinstance(shadow, list) and len(shadow) == len(self.shadow), "EMA state does not match the model"
        with torch.no_grad():
            for s, saved in zip(self.shadow, shadow):
                s.copy_(saved)
