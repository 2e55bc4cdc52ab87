"""TRM with six reasoning latents (the TRM paper's hierarchy ablation).

z_L is split into six latents z_L1..z_L6 that the network sees summed. In a cycle, update l (of L_cycles, at
most 6) rewrites the l-th latent: `z_Ll <- net(z_L1 + ... + z_L6, z_H + x)`; then `z_H <- net(z_H, z_L1 + ...
+ z_L6)`. One ACT step runs H_cycles - 1 cycles without gradient, then one with. Output and Q head read z_H.
Keys and halting are TRM's (trm.py).

Name: `recursive_reasoning.trm_hier6@TinyRecursiveReasoningModel_ACTV1`.
Shapes: B = batch, T = puzzle positions + seq_len, D = hidden_size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from hrm_core.checking import SettingError
from hrm_core.models.act import RecurrentCore
from hrm_core.models.trm import TRMConfig, TRMHalting

NUM_LATENTS = 6


@dataclass(kw_only=True)
class TRMHier6Config(TRMConfig):
    TITLE: ClassVar[str] = "recursive_reasoning.trm_hier6 (TRM, six latents)"

    def check(self) -> None:
        super().check()
        if self.L_cycles > NUM_LATENTS:
            raise SettingError("arch.L_cycles", f"arch.L_cycles={self.L_cycles}: trm_hier6 updates one of its "
                               f"{NUM_LATENTS} latents per L cycle, so arch.L_cycles must be at most {NUM_LATENTS}")


@dataclass
class Hier6Carry:
    z_H: torch.Tensor  # [B, T, D] the answer latent
    z_L1: torch.Tensor  # [B, T, D] each: one of the six reasoning latents
    z_L2: torch.Tensor
    z_L3: torch.Tensor
    z_L4: torch.Tensor
    z_L5: torch.Tensor
    z_L6: torch.Tensor


def summed(latents: list[torch.Tensor]) -> torch.Tensor:
    """z_L1 + ... + z_L6, added left to right (the order fixes the float rounding)."""
    total = latents[0]
    for z in latents[1:]:
        total = total + z
    return total


class Hier6Core(RecurrentCore):
    LEVELS = {"L_level": "L_layers"}
    INITIAL_STATES = {"z_H": "H_init", **{f"z_L{i}": f"L{i}_init" for i in range(1, NUM_LATENTS + 1)}}
    carry_class = Hier6Carry

    def cycle(self, z_H: torch.Tensor, z_L: list[torch.Tensor], x: torch.Tensor, cos_sin):
        for l in range(self.config.L_cycles):
            z_L[l] = self.L_level(summed(z_L), z_H + x, cos_sin)
        z_H = self.L_level(z_H, summed(z_L), cos_sin)
        return z_H, z_L

    def forward(self, carry: Hier6Carry, batch: dict[str, torch.Tensor]):
        """One ACT step. Returns (new carry, logits [B, S, V], (q_halt [B], q_continue [B]))."""
        cos_sin = self.rope()
        x = self.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])  # [B, T, D]
        z_H = carry.z_H
        z_L = [getattr(carry, f"z_L{i}") for i in range(1, NUM_LATENTS + 1)]
        with torch.no_grad():
            for _ in range(self.config.H_cycles - 1):
                z_H, z_L = self.cycle(z_H, z_L, x, cos_sin)
        z_H, z_L = self.cycle(z_H, z_L, x, cos_sin)
        latents = {f"z_L{i}": z for i, z in enumerate(z_L, start=1)}
        return self.detached(z_H=z_H, **latents), *self.heads(z_H)


class TRMHier6(TRMHalting):
    core_class = Hier6Core
