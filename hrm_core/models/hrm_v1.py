"""The Hierarchical Reasoning Model with adaptive computation time (HRM ACT v1, arXiv 2506.21734).

Two recurrent modules of their own weights: H (slow, high level) and L (fast, low level). One ACT step runs
H_cycles x L_cycles updates: L_cycles times `z_L <- L(z_L, z_H + x)`, then `z_H <- H(z_H, z_L)`, all of them
without gradient but the last L and the last H update (HRM's one-step gradient approximation, which keeps
memory constant in the number of cycles). Output and Q head read z_H. The ACT loop (act.py) halts a sequence
when q_halt > q_continue and learns q_continue from a bootstrapped target.

Names: `hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1` (github sapientinc/HRM), and the TinyRecursiveModels
repository's copy, `recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1`, which adds `mlp_t` (an MLP
across positions in place of attention) and `pos_encodings: none`; everything else is the same model.

Shapes: B = batch, T = puzzle positions + seq_len, D = hidden_size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch

from hrm_core.checking import Minimum, OneOf, setting
from hrm_core.models.act import ACTConfig, ACTModel, RecurrentCore


@dataclass(kw_only=True)
class HRMConfig(ACTConfig):
    TITLE: ClassVar[str] = "hrm.hrm_act_v1 (HRM ACT v1)"

    H_cycles: Annotated[int, Minimum(1)] = setting(help="High-level (H) updates per ACT step.")
    L_cycles: Annotated[int, Minimum(1)] = setting(help="Low-level (L) updates per high-level update.")
    H_layers: Annotated[int, Minimum(1)] = setting(help="Blocks in the high-level module.")
    L_layers: Annotated[int, Minimum(1)] = setting(help="Blocks in the low-level module.")

    def block_passes(self) -> tuple[int, int]:
        L_passes, H_passes = self.H_cycles * self.L_cycles, self.H_cycles
        with_grad = self.L_layers + self.H_layers  # the last L and the last H update
        return L_passes * self.L_layers + H_passes * self.H_layers - with_grad, with_grad


@dataclass(kw_only=True)
class RecursiveHRMConfig(HRMConfig):
    """HRM as the TinyRecursiveModels repository has it: HRM ACT v1 plus `mlp_t` and `pos_encodings: none`."""

    TITLE: ClassVar[str] = "recursive_reasoning.hrm (HRM of the TRM repository)"

    pos_encodings: Annotated[str, OneOf(("rope", "learned", "none"))] = setting(
        help="Position encoding: rope, learned, or none (with mlp_t).")
    mlp_t: bool = setting(False, help="An MLP across positions in place of attention (TRM-MLP, for Sudoku).")

    @property
    def mlp_t_width(self) -> int | None:
        return self.total_positions if self.mlp_t else None


@dataclass
class HRMCarry:
    z_H: torch.Tensor  # [B, T, D] high-level latent
    z_L: torch.Tensor  # [B, T, D] low-level latent


class HRMCore(RecurrentCore):
    LEVELS = {"H_level": "H_layers", "L_level": "L_layers"}
    INITIAL_STATES = {"z_H": "H_init", "z_L": "L_init"}
    carry_class = HRMCarry

    def forward(self, carry: HRMCarry, batch: dict[str, torch.Tensor]):
        """One ACT step. Returns (new carry, logits [B, S, V], (q_halt [B], q_continue [B]))."""
        H_cycles, L_cycles = self.config.H_cycles, self.config.L_cycles
        cos_sin = self.rope()
        x = self.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])  # [B, T, D]

        with torch.no_grad():
            z_H, z_L = carry.z_H, carry.z_L
            for h in range(H_cycles):
                for l in range(L_cycles):
                    if not (h == H_cycles - 1 and l == L_cycles - 1):
                        z_L = self.L_level(z_L, z_H + x, cos_sin)  # L sees H and the input
                if h != H_cycles - 1:
                    z_H = self.H_level(z_H, z_L, cos_sin)  # H sees only L's result

        z_L = self.L_level(z_L, z_H + x, cos_sin)
        z_H = self.H_level(z_H, z_L, cos_sin)
        return self.detached(z_H=z_H, z_L=z_L), *self.heads(z_H)


class HRM(ACTModel):
    """HRM ACT v1: halts when q_halt > q_continue, learns q_continue from the next step's Q values."""

    core_class = HRMCore
