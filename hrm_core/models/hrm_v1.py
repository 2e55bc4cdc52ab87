"""The Hierarchical Reasoning Model with adaptive computation time (HRM ACT v1).

Read top to bottom: building blocks, one transformer block, the two recurrent modules (H = slow, high level;
L = fast, low level), the inner model that runs H_cycles x L_cycles updates, and the ACT wrapper that decides
per sequence when to stop thinking.

Shapes use B = batch, S = seq_len, P = puzzle-embedding positions, T = P + S, D = hidden_size,
H = num_heads, Dh = head dim, V = vocab_size.

Module and parameter names follow the original implementation (github sapientinc/HRM) exactly, so that
`state_dict()` keys match its checkpoints (`model.inner.H_level.layers.0.self_attn.qkv_proj.weight`, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.models.attention import ATTN_BACKENDS
from hrm_core.models.layers import (
    Attention,
    CastedEmbedding,
    CastedLinear,
    RotaryEmbedding,
    SwiGLU,
    rms_norm,
    trunc_normal_,
)
from hrm_core.models.sparse_embedding import SparsePuzzleEmbedding


# ----------------------------------------------------------------------------------------------------------
# Configuration

@dataclass
class ModelConfig:
    """Hyperparameters of HRM ACT v1; the `arch` keys of the config plus what the dataset dictates."""

    # From the dataset
    batch_size: int
    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    # From `arch`
    H_cycles: int
    L_cycles: int
    H_layers: int
    L_layers: int
    hidden_size: int
    expansion: float
    num_heads: int
    pos_encodings: str
    halt_max_steps: int
    halt_exploration_prob: float
    puzzle_emb_ndim: int = 0
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    # "auto" = bfloat16 on CUDA, float32 elsewhere (CPU and MPS lack fast bf16 matmuls).
    forward_dtype: str = "auto"
    attn_backend: str = "auto"

    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.pos_encodings not in ("rope", "learned"):
            raise ValueError(f"arch.pos_encodings={self.pos_encodings!r} must be 'rope' or 'learned'")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"arch.hidden_size={self.hidden_size} must be divisible by arch.num_heads={self.num_heads}")
        if self.attn_backend not in ATTN_BACKENDS:
            raise ValueError(f"arch.attn_backend={self.attn_backend!r} must be one of {', '.join(ATTN_BACKENDS)}")
        if self.halt_max_steps < 1:
            raise ValueError(f"arch.halt_max_steps={self.halt_max_steps} must be at least 1")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "extra"]

    def resolved_dtype(self, device: torch.device) -> torch.dtype:
        if self.forward_dtype == "auto":
            return torch.bfloat16 if device.type == "cuda" else torch.float32
        dtype = getattr(torch, self.forward_dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"arch.forward_dtype={self.forward_dtype!r} is not a torch dtype (e.g. bfloat16, float32)")
        return dtype


class Block(nn.Module):
    """Post-norm transformer block: x = norm(x + attn(x)); x = norm(x + mlp(x))."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.self_attn = Attention(config.hidden_size, config.num_heads, config.attn_backend)
        self.mlp = SwiGLU(config.hidden_size, config.expansion)
        self.eps = config.rms_norm_eps

    def forward(self, x: torch.Tensor, cos_sin) -> torch.Tensor:
        x = rms_norm(x + self.self_attn(x, cos_sin), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)


class ReasoningModule(nn.Module):
    """A stack of blocks applied to a recurrent state after adding an input injection."""

    def __init__(self, config: ModelConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(Block(config) for _ in range(num_layers))

    def forward(self, state: torch.Tensor, injection: torch.Tensor, cos_sin) -> torch.Tensor:
        x = state + injection  # [B, T, D]
        for layer in self.layers:
            x = layer(x, cos_sin)
        return x


# ----------------------------------------------------------------------------------------------------------
# The inner model: one ACT step = H_cycles x L_cycles recurrent updates

@dataclass
class InnerCarry:
    """Recurrent state of the two modules, each [B, T, D]."""

    z_H: torch.Tensor
    z_L: torch.Tensor


@dataclass
class Carry:
    """Everything the ACT loop carries from one step to the next."""

    inner_carry: InnerCarry
    steps: torch.Tensor  # [B] int32, ACT steps taken on the current puzzle
    halted: torch.Tensor  # [B] bool, True = this slot takes a new puzzle at the next step
    current_data: dict[str, torch.Tensor]  # the batch each slot is working on


class InnerModel(nn.Module):
    def __init__(self, config: ModelConfig, dtype: torch.dtype):
        super().__init__()
        self.config = config
        self.forward_dtype = dtype
        D = config.hidden_size

        # Tokens are embedded with std 1/sqrt(D) and scaled back by sqrt(D), so the embedding table learns at
        # the same rate as the other weights while activations start at unit scale.
        self.embed_scale = math.sqrt(D)
        embed_std = 1.0 / self.embed_scale
        self.embed_tokens = CastedEmbedding(config.vocab_size, D, init_std=embed_std, cast_to=dtype)
        self.lm_head = CastedLinear(D, config.vocab_size, bias=False)
        self.q_head = CastedLinear(D, 2, bias=True)  # (q_halt, q_continue) read from position 0

        # Puzzle embedding: puzzle_emb_ndim values spread over P = ceil(ndim / D) extra leading positions.
        self.puzzle_emb_len = -(-config.puzzle_emb_ndim // D)
        if config.puzzle_emb_ndim > 0:
            self.puzzle_emb = SparsePuzzleEmbedding(
                config.num_puzzle_identifiers, config.puzzle_emb_ndim, batch_size=config.batch_size, cast_to=dtype
            )

        total_len = config.seq_len + self.puzzle_emb_len
        if config.pos_encodings == "rope":
            self.rotary_emb = RotaryEmbedding(D // config.num_heads, total_len, config.rope_theta)
        else:
            self.embed_pos = CastedEmbedding(total_len, D, init_std=embed_std, cast_to=dtype)

        self.H_level = ReasoningModule(config, config.H_layers)
        self.L_level = ReasoningModule(config, config.L_layers)

        # Learned starting states, broadcast to every position of a freshly started puzzle.
        self.H_init = nn.Buffer(trunc_normal_(torch.empty(D, dtype=dtype), std=1), persistent=True)
        self.L_init = nn.Buffer(trunc_normal_(torch.empty(D, dtype=dtype), std=1), persistent=True)

        # Q head starts near "never halt" (sigmoid(-5) ~ 0.007) so early training is not cut short.
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5)

    def input_embeddings(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        """[B, S] token ids and [B] puzzle ids -> [B, T, D]."""
        embedding = self.embed_tokens(inputs.to(torch.int32))  # [B, S, D]
        if self.config.puzzle_emb_ndim > 0:
            puzzle = self.puzzle_emb(puzzle_identifiers)  # [B, ndim]
            pad = self.puzzle_emb_len * self.config.hidden_size - puzzle.shape[-1]
            if pad > 0:
                puzzle = F.pad(puzzle, (0, pad))
            puzzle = puzzle.view(-1, self.puzzle_emb_len, self.config.hidden_size)  # [B, P, D]
            embedding = torch.cat((puzzle, embedding), dim=-2)  # [B, T, D]
        if self.config.pos_encodings == "learned":
            # The sum of two unit-variance terms is scaled by 1/sqrt(2) to stay unit variance.
            embedding = 0.707106781 * (embedding + self.embed_pos.embedding_weight.to(self.forward_dtype))
        return self.embed_scale * embedding

    def empty_carry(self, batch_size: int, device: torch.device) -> InnerCarry:
        shape = (batch_size, self.config.seq_len + self.puzzle_emb_len, self.config.hidden_size)
        # Every slot starts halted, so these values are replaced by H_init/L_init before first use.
        return InnerCarry(
            z_H=torch.zeros(shape, dtype=self.forward_dtype, device=device),
            z_L=torch.zeros(shape, dtype=self.forward_dtype, device=device),
        )

    def reset_carry(self, reset: torch.Tensor, carry: InnerCarry) -> InnerCarry:
        reset = reset.view(-1, 1, 1)  # [B, 1, 1]
        return InnerCarry(z_H=torch.where(reset, self.H_init, carry.z_H), z_L=torch.where(reset, self.L_init, carry.z_L))

    def forward(self, carry: InnerCarry, batch: dict[str, torch.Tensor]):
        """One ACT step. Returns (new carry, logits [B, S, V], (q_halt [B], q_continue [B]))."""
        cos_sin = self.rotary_emb() if self.config.pos_encodings == "rope" else None
        x = self.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])  # [B, T, D]

        # All but the last L update and the last H update run without gradient: HRM's one-step gradient
        # approximation, which keeps memory constant in the number of cycles.
        with torch.no_grad():
            z_H, z_L = carry.z_H, carry.z_L
            for h in range(self.config.H_cycles):
                for l in range(self.config.L_cycles):
                    last = h == self.config.H_cycles - 1 and l == self.config.L_cycles - 1
                    if not last:
                        z_L = self.L_level(z_L, z_H + x, cos_sin)  # L sees H and the input
                if h != self.config.H_cycles - 1:
                    z_H = self.H_level(z_H, z_L, cos_sin)  # H sees only L's result

        z_L = self.L_level(z_L, z_H + x, cos_sin)
        z_H = self.H_level(z_H, z_L, cos_sin)

        new_carry = InnerCarry(z_H=z_H.detach(), z_L=z_L.detach())
        logits = self.lm_head(z_H)[:, self.puzzle_emb_len:]  # [B, S, V]: drop the puzzle positions
        q_logits = self.q_head(z_H[:, 0]).to(torch.float32)  # [B, 2]
        return new_carry, logits, (q_logits[..., 0], q_logits[..., 1])


# ----------------------------------------------------------------------------------------------------------
# The ACT wrapper

class HRM(nn.Module):
    """Adaptive computation time around InnerModel, trained with Q-learning on the halt decision.

    Each forward is one ACT step for every slot of the batch. Slots whose puzzle halted at the previous
    step are reset to the learned initial states and take the next puzzle from `batch`; the others keep
    thinking about the puzzle they hold.
    """

    def __init__(self, config: ModelConfig, dtype: torch.dtype):
        super().__init__()
        self.config = config
        self.inner = InnerModel(config, dtype)

    @property
    def puzzle_emb(self) -> SparsePuzzleEmbedding | None:
        """The sparse puzzle-embedding table, or None when puzzle_emb_ndim is 0."""
        return getattr(self.inner, "puzzle_emb", None)

    def initial_carry(self, batch: dict[str, torch.Tensor]) -> Carry:
        inputs = batch["inputs"]
        batch_size, device = inputs.shape[0], inputs.device
        return Carry(
            inner_carry=self.inner.empty_carry(batch_size, device),
            steps=torch.zeros(batch_size, dtype=torch.int32, device=device),
            halted=torch.ones(batch_size, dtype=torch.bool, device=device),  # all slots take data at step 1
            current_data={k: torch.zeros_like(v) for k, v in batch.items()},
        )

    def forward(self, carry: Carry, batch: dict[str, torch.Tensor]) -> tuple[Carry, dict[str, torch.Tensor]]:
        halted = carry.halted
        inner_carry = self.inner.reset_carry(halted, carry.inner_carry)
        steps = torch.where(halted, 0, carry.steps)
        current_data = {
            k: torch.where(halted.view((-1,) + (1,) * (batch[k].ndim - 1)), batch[k], v)
            for k, v in carry.current_data.items()
        }

        inner_carry, logits, (q_halt, q_continue) = self.inner(inner_carry, current_data)
        outputs = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue}

        with torch.no_grad():
            steps = steps + 1
            is_last_step = steps >= self.config.halt_max_steps
            halted = is_last_step

            # Evaluation always runs halt_max_steps so that every sequence of a batch halts together.
            if self.training and self.config.halt_max_steps > 1:
                halted = halted | (q_halt > q_continue)

                # Exploration: some slots get a random minimum number of steps in 2..halt_max_steps.
                explore = torch.rand_like(q_halt) < self.config.halt_exploration_prob
                min_halt_steps = explore * torch.randint_like(steps, low=2, high=self.config.halt_max_steps + 1)
                halted = halted & (steps >= min_halt_steps)

                # Q-learning target for "continue": the value of the next state, from one more no-grad
                # step. No replay buffer or target network: the many parallel slots of a large batch
                # decorrelate the targets (as in PQN, arXiv 2407.04811).
                next_q_halt, next_q_continue = self.inner(inner_carry, current_data)[-1]
                target = torch.where(is_last_step, next_q_halt, torch.maximum(next_q_halt, next_q_continue))
                outputs["target_q_continue"] = torch.sigmoid(target)

        return Carry(inner_carry, steps, halted, current_data), outputs
