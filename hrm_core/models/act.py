"""What every HRM-family architecture shares: its common keys, its input/output layers, and the ACT loop.

An architecture is a recurrent core (`RecurrentCore` subclass: how the latent states are updated within one
ACT step) inside an `ACTModel` (the adaptive-computation loop that decides, per sequence, when to stop
thinking). The subclasses live one per file: hrm_v1.py, trm.py, trm_singlez.py, trm_hier6.py,
transformers_baseline.py.

Read top to bottom: the common config, the carry, the core's input embedding and output heads, the ACT wrapper.
Shapes: B = batch, S = seq_len, P = puzzle-embedding positions, T = P + S, D = hidden_size, V = vocab_size.

Module and buffer names follow the originals (github sapientinc/HRM, SamsungSAILMontreal/TinyRecursiveModels)
so that `state_dict()` keys match their checkpoints (`model.inner.embed_tokens.embedding_weight`, ...).

Init table (every architecture; the cores add their blocks, whose linear layers use the same LeCun rule):

    embed_tokens, embed_pos   truncated normal, std 1/sqrt(D) (scaled back up by sqrt(D) at use)
    lm_head, q_head, blocks   truncated normal, std 1/sqrt(fan_in), no bias (q_head: weight 0, bias -5)
    puzzle_emb.weights        zeros (an unseen puzzle contributes nothing)
    H_init, L_init, ...       truncated normal, std 1: the learned starting latents

Parameters are created in the originals' order, so `torch.manual_seed(s)` gives the originals' initial weights.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.models.attention import ATTN_BACKENDS
from hrm_core.models.layers import CastedEmbedding, CastedLinear, RotaryEmbedding, trunc_normal_
from hrm_core.models.sparse_embedding import SparsePuzzleEmbedding

# ----------------------------------------------------------------------------------------------------------
# Configuration

DATASET_KEYS = ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers")


@dataclass(kw_only=True)
class ACTConfig:
    """The `arch` keys every architecture takes, plus what the dataset dictates.

    Subclasses add their own keys. Every value is checked on construction; an error names the key
    (`arch.<key>`) and what it accepts.
    """

    # From the dataset
    batch_size: int
    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    # From `arch`
    hidden_size: int
    expansion: float
    num_heads: int
    pos_encodings: str
    halt_max_steps: int
    halt_exploration_prob: float
    puzzle_emb_ndim: int = 0
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    # "auto" = bfloat16 on CUDA (the originals' default), float32 elsewhere (CPU and MPS lack fast bf16 matmuls).
    forward_dtype: str = "auto"
    attn_backend: str = "auto"

    TITLE: ClassVar[str] = "this architecture"  # for messages, e.g. "TRM"
    POS_ENCODINGS: ClassVar[tuple[str, ...]] = ("rope", "learned")
    # Integer keys and their smallest allowed value.
    MINIMUM: ClassVar[dict[str, int]] = {
        "batch_size": 1, "seq_len": 1, "vocab_size": 1, "num_puzzle_identifiers": 1,
        "hidden_size": 1, "num_heads": 1, "halt_max_steps": 1, "puzzle_emb_ndim": 0,
    }

    def __post_init__(self) -> None:
        self._check_types()
        self.check()

    def _check_types(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value, tp, key = getattr(self, f.name), hints[f.name], f"arch.{f.name}"
            if tp is bool and not isinstance(value, bool):
                raise ValueError(f"{key}={value!r} must be true or false")
            if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{key}={value!r} must be an integer")
            if tp is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{key}={value!r} must be a number")
                setattr(self, f.name, float(value))
            if tp is str and not isinstance(value, str):
                raise ValueError(f"{key}={value!r} must be a string")

    def check(self) -> None:
        """Value checks; subclasses extend this (calling super)."""
        for name, low in self.MINIMUM.items():
            if getattr(self, name) < low:
                raise ValueError(f"arch.{name}={getattr(self, name)} must be at least {low}")
        if self.pos_encodings not in self.POS_ENCODINGS:
            raise ValueError(f"arch.pos_encodings={self.pos_encodings!r} must be one of {', '.join(self.POS_ENCODINGS)}"
                             f" for {self.TITLE}")
        if self.uses_attention() or self.pos_encodings == "rope":
            # The originals' head dim is hidden_size // num_heads; heads need not divide the width exactly.
            head_dim = self.hidden_size // self.num_heads
            if head_dim < 1:
                raise ValueError(f"arch.num_heads={self.num_heads} is more than arch.hidden_size={self.hidden_size}: "
                                 "each head needs at least one channel")
            if self.pos_encodings == "rope" and head_dim % 2:
                raise ValueError(f"arch.num_heads={self.num_heads}: RoPE rotates channel pairs, so the head dim "
                                 f"hidden_size // num_heads = {head_dim} must be even (or use arch.pos_encodings=learned)")
        if self.expansion <= 0:
            raise ValueError(f"arch.expansion={self.expansion} must be positive")
        if not 0.0 <= self.halt_exploration_prob <= 1.0:
            raise ValueError(f"arch.halt_exploration_prob={self.halt_exploration_prob} must be between 0 and 1")
        if self.attn_backend not in ATTN_BACKENDS:
            raise ValueError(f"arch.attn_backend={self.attn_backend!r} must be one of {', '.join(ATTN_BACKENDS)}")

    @classmethod
    def arch_keys(cls) -> list[str]:
        """The `arch.*` hyperparameters this architecture takes (dataset sizes excluded)."""
        return [f.name for f in dataclasses.fields(cls) if f.name not in DATASET_KEYS]

    @classmethod
    def required_keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in DATASET_KEYS
                and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]

    def resolved_dtype(self, device: torch.device) -> torch.dtype:
        if self.forward_dtype == "auto":
            return torch.bfloat16 if device.type == "cuda" else torch.float32
        dtype = getattr(torch, self.forward_dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"arch.forward_dtype={self.forward_dtype!r} is not a torch dtype (e.g. bfloat16, float32)")
        return dtype

    # Facts derived from the keys, used by the core and by the FLOP count (hrm_core.bench.step)

    @property
    def puzzle_positions(self) -> int:
        """P: leading positions that hold the puzzle embedding, ceil(puzzle_emb_ndim / hidden_size)."""
        return -(-self.puzzle_emb_ndim // self.hidden_size)

    @property
    def total_positions(self) -> int:
        """T = P + S: the length of every latent state."""
        return self.puzzle_positions + self.seq_len

    @property
    def mlp_t_width(self) -> int | None:
        """Width of the MLP across positions that replaces attention (`mlp_t`), or None for attention."""
        return None

    def uses_attention(self) -> bool:
        return self.mlp_t_width is None

    def block_passes(self) -> tuple[int, int]:
        """(blocks run without gradient, blocks run with gradient) in one forward of the core."""
        raise NotImplementedError

    def q_target_pass(self) -> bool:
        """Whether a training step runs the core a second time (no grad) for the Q-continue target."""
        return self.halt_max_steps > 1


# ----------------------------------------------------------------------------------------------------------
# The carry: everything the ACT loop keeps from one step to the next


@dataclass
class Carry:
    inner_carry: Any  # the core's latent states (a dataclass of [B, T, D] tensors, one per latent)
    steps: torch.Tensor  # [B] int32, ACT steps taken on the current puzzle
    halted: torch.Tensor  # [B] bool, True = this slot takes a new puzzle at the next step
    current_data: dict[str, torch.Tensor]  # the batch each slot is working on


# ----------------------------------------------------------------------------------------------------------
# The recurrent core's shared parts: input embedding, output heads, learned initial latents


class RecurrentCore(nn.Module):
    """Base of every architecture's core (the module the originals call `inner`).

    A subclass builds its reasoning blocks after calling `__init__`, then `add_initial_states(...)`, and
    implements `forward(carry, batch) -> (new carry, logits [B, S, V], (q_halt [B], q_continue [B]))`.
    """

    # Latent field of the carry -> name of the buffer holding its learned initial value.
    INITIAL_STATES: ClassVar[dict[str, str]] = {}
    carry_class: ClassVar[type]

    def __init__(self, config: ACTConfig, dtype: torch.dtype):
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

        # Puzzle embedding: puzzle_emb_ndim values spread over P extra leading positions (zero-padded).
        self.puzzle_emb_len = config.puzzle_positions
        self.puzzle_emb = (SparsePuzzleEmbedding(config.num_puzzle_identifiers, config.puzzle_emb_ndim,
                                                 batch_size=config.batch_size, cast_to=dtype)
                           if config.puzzle_emb_ndim > 0 else None)

        if config.pos_encodings == "rope":
            self.rotary_emb = RotaryEmbedding(D // config.num_heads, config.total_positions, config.rope_theta)
        elif config.pos_encodings == "learned":
            self.embed_pos = CastedEmbedding(config.total_positions, D, init_std=embed_std, cast_to=dtype)
        # "none": the tokens carry no position; an MLP across positions (mlp_t) tells them apart by itself.

    def add_initial_states(self) -> None:
        """One learned [D] vector per latent, broadcast to every position of a freshly started puzzle."""
        for buffer_name in self.INITIAL_STATES.values():
            init = trunc_normal_(torch.empty(self.config.hidden_size, dtype=self.forward_dtype), std=1)
            self.register_buffer(buffer_name, init, persistent=True)

        # Q head starts near "never halt" (sigmoid(-5) ~ 0.007) so early training is not cut short.
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5)

    def rope(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        return self.rotary_emb() if self.config.pos_encodings == "rope" else None

    def input_embeddings(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        """[B, S] token ids and [B] puzzle ids -> [B, T, D]."""
        D, P = self.config.hidden_size, self.puzzle_emb_len
        embedding = self.embed_tokens(inputs.to(torch.int32))  # [B, S, D]
        if P > 0:
            if self.puzzle_emb is not None:
                puzzle = self.puzzle_emb(puzzle_identifiers)  # [B, ndim]
            else:  # TRM's puzzle_emb_len without a table: P blank positions
                puzzle = embedding.new_zeros(embedding.shape[0], 0)
            pad = P * D - puzzle.shape[-1]
            if pad > 0:
                puzzle = F.pad(puzzle, (0, pad))
            embedding = torch.cat((puzzle.view(-1, P, D), embedding), dim=-2)  # [B, T, D]
        if self.config.pos_encodings == "learned":
            # The sum of two unit-variance terms is scaled by 1/sqrt(2) to stay unit variance.
            embedding = 0.707106781 * (embedding + self.embed_pos.embedding_weight.to(self.forward_dtype))
        return self.embed_scale * embedding

    def heads(self, z: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The answer latent [B, T, D] -> logits [B, S, V] (puzzle positions dropped), (q_halt, q_continue) [B]."""
        logits = self.lm_head(z)[:, self.puzzle_emb_len:]
        q_logits = self.q_head(z[:, 0]).to(torch.float32)  # [B, 2]
        return logits, (q_logits[..., 0], q_logits[..., 1])

    def empty_carry(self, batch_size: int, device: torch.device):
        shape = (batch_size, self.config.total_positions, self.config.hidden_size)
        # Every slot starts halted, so these values are replaced by the initial states before first use.
        return self.carry_class(**{
            name: torch.zeros(shape, dtype=self.forward_dtype, device=device) for name in self.INITIAL_STATES
        })

    def reset_carry(self, reset: torch.Tensor, carry):
        reset = reset.view(-1, 1, 1)  # [B, 1, 1]
        return self.carry_class(**{
            name: torch.where(reset, getattr(self, buffer_name), getattr(carry, name))
            for name, buffer_name in self.INITIAL_STATES.items()
        })

    def detached(self, **latents: torch.Tensor):
        """The new carry: latents leave the step without gradient (each ACT step is its own graph)."""
        return self.carry_class(**{name: z.detach() for name, z in latents.items()})


# ----------------------------------------------------------------------------------------------------------
# The ACT wrapper


class ACTModel(nn.Module):
    """Adaptive computation time around a recurrent core, trained with Q-learning on the halt decision.

    Each forward is one ACT step for every slot of the batch. Slots whose puzzle halted at the previous
    step are reset to the learned initial states and take the next puzzle from `batch`; the others keep
    thinking about the puzzle they hold. This class has HRM's halting rule; architectures with another
    override `adaptive`, `halts` and `learns_q_continue`.
    """

    core_class: ClassVar[type[RecurrentCore]]

    def __init__(self, config: ACTConfig, dtype: torch.dtype):
        super().__init__()
        self.config = config
        self.inner = self.core_class(config, dtype)

    @property
    def puzzle_emb(self) -> SparsePuzzleEmbedding | None:
        """The sparse puzzle-embedding table, or None when puzzle_emb_ndim is 0."""
        return self.inner.puzzle_emb

    def adaptive(self) -> bool:
        """Whether this step may halt before halt_max_steps. Evaluation always runs halt_max_steps, so that
        every sequence of a batch halts together."""
        return self.training and self.config.halt_max_steps > 1

    def halts(self, q_halt: torch.Tensor, q_continue: torch.Tensor) -> torch.Tensor:
        return q_halt > q_continue

    def learns_q_continue(self) -> bool:
        """Whether training computes a Q-continue target (and so the loss head a q_continue_loss)."""
        return True

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

            if self.adaptive():
                halted = halted | self.halts(q_halt, q_continue)
                if self.training:
                    # Exploration: some slots get a random minimum number of steps in 2..halt_max_steps.
                    explore = torch.rand_like(q_halt) < self.config.halt_exploration_prob
                    min_halt_steps = explore * torch.randint_like(steps, low=2, high=self.config.halt_max_steps + 1)
                    halted = halted & (steps >= min_halt_steps)

                    if self.learns_q_continue():
                        # Q-learning target for "continue": the value of the next state, from one more no-grad
                        # step. No replay buffer or target network: the many parallel slots of a large batch
                        # decorrelate the targets (as in PQN, arXiv 2407.04811).
                        next_q_halt, next_q_continue = self.inner(inner_carry, current_data)[-1]
                        target = torch.where(is_last_step, next_q_halt, torch.maximum(next_q_halt, next_q_continue))
                        outputs["target_q_continue"] = torch.sigmoid(target)

        return Carry(inner_carry, steps, halted, current_data), outputs
