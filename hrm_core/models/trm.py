"""The Tiny Recursive Model (TRM, arXiv 2510.04871): one small network that refines two latents.

Where HRM has two modules, TRM has one network `net` of L_layers blocks that updates both the reasoning latent
z_L and the answer latent z_H. One cycle is

    L_cycles times:  z_L <- net(z_L, z_H + x)      (think: the input x and the current answer refine z_L)
    once:            z_H <- net(z_H, z_L)          (act: z_L revises the answer)

and one ACT step runs H_cycles - 1 cycles without gradient, then one cycle with gradient through all of its
L_cycles + 1 updates (full back-propagation through the last recursion, not HRM's one-step approximation).
Output and Q head read z_H.

Keys beyond the common ones (act.py): `mlp_t` replaces attention by an MLP across the T positions (the
Sudoku recipe); `puzzle_emb_len` sets P, the puzzle-embedding positions (0: ceil(puzzle_emb_ndim /
hidden_size)); `no_ACT_continue` (default true) halts when q_halt > 0 and trains no Q-continue head, false
uses HRM's rule and target (the reference crashes on that path; this one runs it).

Name: `recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1` (github SamsungSAILMontreal/TinyRecursiveModels).
Shapes: B = batch, T = P + seq_len, D = hidden_size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch

from hrm_core.checking import Minimum, OneOf, SettingError, setting
from hrm_core.models.act import ACTConfig, ACTModel, RecurrentCore


@dataclass(kw_only=True)
class TRMConfig(ACTConfig):
    TITLE: ClassVar[str] = "recursive_reasoning.trm (TRM)"

    pos_encodings: Annotated[str, OneOf(("rope", "learned", "none"))] = setting(
        help="Position encoding: rope, learned, or none (with mlp_t).")
    H_cycles: Annotated[int, Minimum(1)] = setting(
        help="Recursion cycles per ACT step (all but the last without gradient).")
    L_cycles: Annotated[int, Minimum(1)] = setting(help="Reasoning-latent (z_L) updates per cycle.")
    L_layers: Annotated[int, Minimum(1)] = setting(help="Blocks in the one network.")
    H_layers: Annotated[int, Minimum(0)] = setting(0, help="Not used: the reference keeps the key (the one network "
                                                           "has L_layers blocks).")
    mlp_t: bool = setting(False, help="An MLP across positions in place of attention (TRM-MLP, for Sudoku).")
    puzzle_emb_len: Annotated[int, Minimum(0)] = setting(
        16, help="Positions the puzzle embedding fills (0 = ceil(puzzle_emb_ndim / hidden_size)).")
    no_ACT_continue: bool = setting(True, help="Halt when q_halt > 0 and learn no Q-continue; false = HRM's halting "
                                               "rule and Q-continue target.")

    def check(self) -> None:
        super().check()
        if self.puzzle_emb_len and self.puzzle_emb_len * self.hidden_size < self.puzzle_emb_ndim:
            need = -(-self.puzzle_emb_ndim // self.hidden_size)
            raise SettingError("arch.puzzle_emb_len", f"arch.puzzle_emb_len={self.puzzle_emb_len} positions of "
                               f"arch.hidden_size={self.hidden_size} cannot hold arch.puzzle_emb_ndim={self.puzzle_emb_ndim}",
                               hint=f"use at least {need}, or 0 for exactly ceil(puzzle_emb_ndim / hidden_size)")

    @property
    def puzzle_positions(self) -> int:
        return self.puzzle_emb_len if self.puzzle_emb_len else super().puzzle_positions

    @property
    def mlp_t_width(self) -> int | None:
        return self.total_positions if self.mlp_t else None

    def block_passes(self) -> tuple[int, int]:
        per_cycle = (self.L_cycles + 1) * self.L_layers
        return (self.H_cycles - 1) * per_cycle, per_cycle

    def q_target_pass(self) -> bool:
        return super().q_target_pass() and not self.no_ACT_continue


@dataclass
class TRMCarry:
    z_H: torch.Tensor  # [B, T, D] the answer latent (HRM's high level)
    z_L: torch.Tensor  # [B, T, D] the reasoning latent


class TRMCore(RecurrentCore):
    LEVELS = {"L_level": "L_layers"}  # the one network (the reference's name)
    INITIAL_STATES = {"z_H": "H_init", "z_L": "L_init"}
    carry_class = TRMCarry

    def cycle(self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, cos_sin):
        for _ in range(self.config.L_cycles):
            z_L = self.L_level(z_L, z_H + x, cos_sin)
        z_H = self.L_level(z_H, z_L, cos_sin)
        return z_H, z_L

    def forward(self, carry: TRMCarry, batch: dict[str, torch.Tensor]):
        """One ACT step. Returns (new carry, logits [B, S, V], (q_halt [B], q_continue [B]))."""
        cos_sin = self.rope()
        x = self.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])  # [B, T, D]
        z_H, z_L = carry.z_H, carry.z_L
        with torch.no_grad():
            for _ in range(self.config.H_cycles - 1):
                z_H, z_L = self.cycle(z_H, z_L, x, cos_sin)
        z_H, z_L = self.cycle(z_H, z_L, x, cos_sin)
        return self.detached(z_H=z_H, z_L=z_L), *self.heads(z_H)


class TRMHalting(ACTModel):
    """TRM's halting: with no_ACT_continue, halt when q_halt > 0 (sigmoid > 1/2) and learn no Q-continue;
    without it, HRM's rule (q_halt > q_continue) and HRM's bootstrapped Q-continue target."""

    def halts(self, q_halt: torch.Tensor, q_continue: torch.Tensor) -> torch.Tensor:
        return q_halt > 0 if self.config.no_ACT_continue else q_halt > q_continue

    def learns_q_continue(self) -> bool:
        return not self.config.no_ACT_continue


class TRM(TRMHalting):
    core_class = TRMCore
