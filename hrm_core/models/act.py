"""What every HRM-family architecture shares: its common keys, its input/output layers, and the ACT loop.

An architecture is a recurrent core (`RecurrentCore` subclass: how the latent states are updated within one
ACT step) inside an `ACTModel` (the adaptive-computation loop that decides, per sequence, when to stop
thinking). The subclasses live one per file: hrm_v1.py, trm.py, trm_singlez.py, trm_hier6.py,
transformers_baseline.py.

Read top to bottom: the common config, the carry, the core's input embedding and output heads, the ACT wrapper.
Shapes: B = batch, S = seq_len, P = puzzle-embedding positions, T = P + S, D = hidden_size, V = vocab_size.

Module and buffer names follow the originals (github sapientinc/HRM, SamsungSAILMontreal/TinyRecursiveModels)
so that `state_dict()` keys match their checkpoints (`model.inner.embed_tokens.embedding_weight`, ...).

Init table (every architecture; the blocks' linear layers use the same LeCun rule):

    embed_tokens, embed_pos   truncated normal, std 1/sqrt(D) (scaled back up by sqrt(D) at use)
    lm_head, q_head, blocks   truncated normal, std 1/sqrt(fan_in), no bias (q_head: weight 0, bias -5)
    puzzle_emb.weights        zeros (an unseen puzzle contributes nothing)
    H_init, L_init, ...       truncated normal, std 1: the learned starting latents

Parameters are created in the originals' order, so `torch.manual_seed(s)` gives the originals' initial weights.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.checking import (Above, Finite, Maximum, Minimum, OneOf, Says, SettingError, setting, settings_fields,
                               unknown_setting)
from hrm_core.models.attention import ATTN_BACKENDS
from hrm_core.models.losses import LossConfig
from hrm_core.models.layers import CastedEmbedding, CastedLinear, RotaryEmbedding, reasoning_module, trunc_normal_
from hrm_core.models.sparse_embedding import SparsePuzzleEmbedding

# ----------------------------------------------------------------------------------------------------------
# Configuration

DATASET_KEYS = ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers")

# The ranges these keys share (the words say what a refused value must be).
Positive = Annotated[int, Minimum(1), Says("positive")]
PositiveFinite = Annotated[float, Finite(), Above(0), Says("a positive finite number")]
Probability = Annotated[float, Minimum(0), Maximum(1), Says("a probability, between 0 and 1")]


@dataclass(kw_only=True)
class ACTConfig:
    """The `arch` node of the config: the keys every architecture takes. Subclasses add their own.

    This class is the schema of those keys: each field's type and range (its annotation), default and help
    (`setting`). The config validator (hrm_core.config), the launcher's form and the docs read them from here;
    `hrm_core.checking.check_settings` builds an instance from the composed config, refusing a bad value with
    the key at fault. `check()` holds the checks across keys. The dataset's sizes are not settings: the trainer
    fills them in (`sized`) when it builds the model.
    """

    # An older all_config.yaml writes null for every key the run left unset: null means the default.
    NULL_MEANS_DEFAULT: ClassVar[bool] = True
    TITLE: ClassVar[str] = "this architecture"  # for messages, e.g. "TRM"

    name: str = setting(help="Model, `module@Class` as in the originals: hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1, "
                             "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1, ... (`python -m hrm_core.config` lists them).")
    loss: LossConfig = setting(help="The loss head and its token loss.", factory=LossConfig)
    halt_exploration_prob: Probability = setting(
        help="Probability that a sequence gets a random minimum number of ACT steps in training.")
    halt_max_steps: Positive = setting(help="Most ACT steps (segments) a sequence may take; evaluation always runs all of them.")
    hidden_size: Positive = setting(help="Model width.")
    num_heads: Positive = setting(help="Attention heads; each has hidden_size // num_heads channels (as in the originals).")
    expansion: PositiveFinite = setting(help="SwiGLU feed-forward expansion factor.")
    puzzle_emb_ndim: Annotated[int, Minimum(0), Says("0 or more")] = setting(
        0, help="Width of the per-puzzle embedding (0 = none); the config tree sets it to hidden_size.")
    pos_encodings: Annotated[str, OneOf(("rope", "learned"))] = setting(help="Position encoding: rope or learned.")
    rms_norm_eps: PositiveFinite = setting(1e-5, help="RMSNorm epsilon.")
    rope_theta: PositiveFinite = setting(10000.0, help="RoPE base.")
    # "auto" is this implementation's (the originals' default is bfloat16 everywhere); all_config.yaml leaves it
    # out, so that the originals, which read a torch dtype name here, use their own default.
    forward_dtype: str = setting("auto", written_unless="auto",
                                 help="Compute dtype: auto (bfloat16 on CUDA, float32 on CPU and MPS, which lack fast "
                                      "bf16 matmuls), or a torch dtype name: bfloat16, float32, ...")
    attn_backend: Annotated[str, OneOf(ATTN_BACKENDS)] = setting(
        "auto", help="Attention kernel: auto (FlashAttention when installed, else PyTorch SDPA), flash3, flash2 or sdpa.")

    # From the dataset: filled in by `sized` when the model is built (0 = not known yet).
    batch_size: int = 0
    seq_len: int = 0
    vocab_size: int = 0
    num_puzzle_identifiers: int = 0

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Checks across keys (each key's own range is its annotation); subclasses extend this (calling super).
        Raises SettingError naming the key."""
        if self.uses_attention() or self.pos_encodings == "rope":
            # The originals' head dim is hidden_size // num_heads; heads need not divide the width exactly.
            head_dim = self.hidden_size // self.num_heads
            if head_dim < 1:
                raise SettingError("arch.num_heads", f"arch.num_heads={self.num_heads} is more than arch.hidden_size="
                                   f"{self.hidden_size}: each head needs at least one channel")
            if self.pos_encodings == "rope" and head_dim % 2:
                raise SettingError("arch.num_heads", f"arch.num_heads={self.num_heads}: RoPE rotates channel pairs, so "
                                   f"the head dim hidden_size // num_heads = {head_dim} must be even (or use "
                                   "arch.pos_encodings=learned)")
        if self.forward_dtype != "auto" and not isinstance(getattr(torch, self.forward_dtype, None), torch.dtype):
            raise SettingError("arch.forward_dtype", f"arch.forward_dtype={self.forward_dtype!r} is not a torch dtype",
                               hint="auto, bfloat16 or float32")

    @classmethod
    def refuse_key(cls, name: str, prefix: str) -> SettingError:
        """The error for an `arch` key this architecture does not take."""
        from hrm_core.models.registry import all_arch_keys

        key = f"{prefix}{name}"
        if name in DATASET_KEYS:
            return SettingError(key, f"{key} is set by the dataset and the trainer, not in arch",
                                hint=f"remove {key}", unknown=True)
        if name in all_arch_keys():
            return SettingError(key, f"{key} is not a hyperparameter of {cls.TITLE}; it takes "
                                f"{', '.join(cls.arch_keys())}", hint=f"remove {key}, or choose another arch", unknown=True)
        return unknown_setting(name, [f.name for f in settings_fields(cls)], prefix)

    @classmethod
    def arch_keys(cls) -> list[str]:
        """The `arch.*` hyperparameters this architecture takes (not its name and loss head)."""
        return [f.name for f in settings_fields(cls) if f.name not in ("name", "loss")]

    def sized(self, *, batch_size: int, seq_len: int, vocab_size: int, num_puzzle_identifiers: int) -> ACTConfig:
        """This config with the dataset's sizes (batch_size is the per-process batch)."""
        sizes = dict(batch_size=batch_size, seq_len=seq_len, vocab_size=vocab_size,
                     num_puzzle_identifiers=num_puzzle_identifiers)
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: the dataset's sizes must be positive integers")
        return dataclasses.replace(self, **sizes)

    def resolved_dtype(self, device: torch.device) -> torch.dtype:
        if self.forward_dtype == "auto":
            return torch.bfloat16 if device.type == "cuda" else torch.float32
        return getattr(torch, self.forward_dtype)

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

    A subclass names its block stacks (`LEVELS`) and latents (`INITIAL_STATES`, `carry_class`) and implements
    `forward(carry, batch) -> (new carry, logits [B, S, V], (q_halt [B], q_continue [B]))`.
    """

    # Attribute name of each stack of reasoning blocks -> the config key giving its number of blocks.
    LEVELS: ClassVar[dict[str, str]] = {}
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

        for name, layers_key in self.LEVELS.items():
            self.add_module(name, reasoning_module(config, getattr(config, layers_key)))

        # One learned [D] vector per latent, broadcast to every position of a freshly started puzzle.
        for buffer_name in self.INITIAL_STATES.values():
            init = trunc_normal_(torch.empty(D, dtype=dtype), std=1)
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
