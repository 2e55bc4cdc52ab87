"""Exponential moving average of the dense weights (the TRM reference's `ema=True`).

ema <- (1 - rate) * weights + rate * ema after every optimizer step, in that arithmetic (two products and a
sum, no lerp), so that the average is the TRM reference's to the bit. It starts from the weights the run
starts with (after load_checkpoint). Only parameters are averaged; buffers (the puzzle-embedding table,
trained sparsely) are used as they are. Evaluation and checkpoints use the EMA weights when it is on
(`swapped_in`).
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
        weighted = torch._foreach_mul([p.detach().float() for p in self.params], 1.0 - self.rate)
        torch._foreach_mul_(self.shadow, self.rate)
        torch._foreach_add_(self.shadow, weighted)

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
