"""TRM with a single latent (the TRM paper's ablation): the network refines one state z and answers from it.

One cycle is L_cycles times `z <- net(z + x)` (the input injected), then `z <- net(z)` (no injection); one ACT
step runs H_cycles - 1 cycles without gradient, then one with. Output and Q head read z. Keys, halting and
everything else are TRM's (trm.py); the carry and the learned initial state are z_L / L_init alone.

Name: `recursive_reasoning.trm_singlez@TinyRecursiveReasoningModel_ACTV1`.
Shapes: B = batch, T = puzzle positions + seq_len, D = hidden_size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from hrm_core.models.act import RecurrentCore
from hrm_core.models.layers import reasoning_module
from hrm_core.models.trm import TRMConfig, TRMHalting


@dataclass(kw_only=True)
class TRMSingleZConfig(TRMConfig):
    TITLE: ClassVar[str] = "recursive_reasoning.trm_singlez (TRM, single latent)"


@dataclass
class SingleZCarry:
    z_L: torch.Tensor  # [B, T, D] the one latent


class SingleZCore(RecurrentCore):
    INITIAL_STATES = {"z_L": "L_init"}
    carry_class = SingleZCarry

    def __init__(self, config: TRMSingleZConfig, dtype: torch.dtype):
        super().__init__(config, dtype)
        self.L_level = reasoning_module(config, config.L_layers)
        self.add_initial_states()

    def cycle(self, z: torch.Tensor, x: torch.Tensor, cos_sin) -> torch.Tensor:
        for _ in range(self.config.L_cycles):
            z = self.L_level(z, x, cos_sin)
        return self.L_level(z, None, cos_sin)

    def forward(self, carry: SingleZCarry, batch: dict[str, torch.Tensor]):
        """One ACT step. Returns (new carry, logits [B, S, V], (q_halt [B], q_continue [B]))."""
        cos_sin = self.rope()
        x = self.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])  # [B, T, D]
        z = carry.z_L
        with torch.no_grad():
            for _ in range(self.config.H_cycles - 1):
                z = self.cycle(z, x, cos_sin)
        z = self.cycle(z, x, cos_sin)
        return self.detached(z_L=z), *self.heads(z)


class TRMSingleZ(TRMHalting):
    core_class = SingleZCore
