"""The transformer baseline of the TinyRecursiveModels repository (its "HRM ACT v2" ablation).

No hierarchy and no inner cycles: one stack of H_layers blocks, applied once per ACT step with gradient,
`z_H <- H(z_H, x)`, the latent carried from step to step. The ACT loop and the heads are HRM's.

Halting as the reference has it: with `act_enabled` (default) training halts when q_halt > q_continue, with
exploration; with `act_inference` evaluation halts that way too (otherwise it runs halt_max_steps) and reports
`actual_steps`. The reference's loss head never asks for the Q-continue target, so no q_continue_loss is
trained (q_continue keeps its initial bias); this implementation does the same.

Name: `recursive_reasoning.transformers_baseline@Model_ACTV2`. Its `H_cycles` key is kept and ignored.
Shapes: B = batch, T = puzzle positions + seq_len, D = hidden_size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch

from hrm_core.checking import Minimum, setting
from hrm_core.models.act import ACTConfig, ACTModel, Carry, RecurrentCore


@dataclass(kw_only=True)
class BaselineConfig(ACTConfig):
    TITLE: ClassVar[str] = "recursive_reasoning.transformers_baseline (transformer baseline)"

    H_layers: Annotated[int, Minimum(1)] = setting(help="Blocks in the one transformer stack.")
    H_cycles: Annotated[int, Minimum(1)] = setting(1, help="Not used: the reference keeps the key.")
    act_enabled: bool = setting(True, help="Halt adaptively in training.")
    act_inference: bool = setting(False, help="Halt adaptively in evaluation too (otherwise every step runs).")

    def block_passes(self) -> tuple[int, int]:
        return 0, self.H_layers

    def q_target_pass(self) -> bool:
        return False


@dataclass
class BaselineCarry:
    z_H: torch.Tensor  # [B, T, D]


class BaselineCore(RecurrentCore):
    LEVELS = {"H_level": "H_layers"}
    INITIAL_STATES = {"z_H": "H_init"}
    carry_class = BaselineCarry

    def forward(self, carry: BaselineCarry, batch: dict[str, torch.Tensor]):
        """One ACT step. Returns (new carry, logits [B, S, V], (q_halt [B], q_continue [B]))."""
        x = self.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])  # [B, T, D]
        z_H = self.H_level(carry.z_H, x, self.rope())
        return self.detached(z_H=z_H), *self.heads(z_H)


class TransformerBaseline(ACTModel):
    core_class = BaselineCore

    def adaptive(self) -> bool:
        if self.config.halt_max_steps <= 1:
            return False
        return self.config.act_enabled if self.training else self.config.act_inference

    def learns_q_continue(self) -> bool:
        return False

    def forward(self, carry: Carry, batch: dict[str, torch.Tensor]) -> tuple[Carry, dict[str, torch.Tensor]]:
        carry, outputs = super().forward(carry, batch)
        if not self.training and self.adaptive():
            outputs["actual_steps"] = carry.steps.float()
        return carry, outputs
