"""Builds what the loop trains: the model (optionally compiled), its two optimizers and their peak rates.

As in the original: the per-process batch is global_batch_size / world_size; every rank builds the model
from its own seed, then takes rank 0's weights (broadcast); the puzzle-embedding table is trained by sparse
sign-SGD at `puzzle_emb_lr`, everything else by AdamATan2 at `lr`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from hrm_core.config import TrainConfig
from hrm_core.data.format import DatasetMetadata
from hrm_core.training.checkpoint import load_model_state
from hrm_core.training.distributed import DistContext

PUZZLE_EMB_KEY = "model.inner.puzzle_emb.weights"


@dataclass
class ModelBundle:
    module: nn.Module  # the loss head as built (state_dict keys in the original's layout)
    forward: nn.Module  # what the loop calls: `module`, or its torch.compile wrapper
    optimizers: list[torch.optim.Optimizer]  # [puzzle-embedding sign-SGD, AdamATan2]
    base_lrs: list[float]
    compiled: bool

    @property
    def puzzle_emb(self) -> nn.Module:
        return self.module.model.puzzle_emb  # type: ignore[union-attr, return-value]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def num_puzzle_emb_params(self) -> int:
        return self.puzzle_emb.weights.numel()  # type: ignore[union-attr]


def should_compile(setting: str, device: torch.device) -> bool:
    """compile=auto: on for CUDA unless DISABLE_COMPILE is set (the original's switch); true/false force it."""
    if setting == "true":
        return True
    if setting == "false":
        return False
    return device.type == "cuda" and "DISABLE_COMPILE" not in os.environ


def build_training_model(config: TrainConfig, metadata: DatasetMetadata, ctx: DistContext) -> ModelBundle:
    from hrm_core.optim import AdamATan2, SparseSignSGD
    from hrm_core.registry import build_model

    module = build_model(
        config.arch_kwargs,
        batch_size=config.global_batch_size // ctx.world_size,
        seq_len=metadata.seq_len,
        vocab_size=metadata.vocab_size,
        num_puzzle_identifiers=metadata.num_puzzle_identifiers,
        device=ctx.device,
    )
    if ctx.distributed:
        with torch.no_grad():
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor, src=0)

    optimizers: list[torch.optim.Optimizer] = [
        SparseSignSGD(module.model.puzzle_emb.buffers(), lr=0.0, weight_decay=config.puzzle_emb_weight_decay,  # type: ignore[union-attr]
                      world_size=ctx.world_size),
        AdamATan2(module.parameters(), lr=0.0, weight_decay=config.weight_decay, betas=(config.beta1, config.beta2)),
    ]
    compiled = should_compile(config.compile, ctx.device)
    forward = torch.compile(module, dynamic=False) if compiled else module
    return ModelBundle(module=module, forward=forward, optimizers=optimizers,  # type: ignore[arg-type]
                       base_lrs=[config.puzzle_emb_lr, config.lr], compiled=compiled)


def load_pretrained_weights(module: nn.Module, path: str) -> str | None:
    """Fine-tuning: loads weights from a checkpoint folder or a weights file (original layout, also with
    `_orig_mod.` keys). A puzzle-embedding table of another size is replaced by the old table's mean row
    for every puzzle. Returns a note saying so, or None."""
    state = load_model_state(path)
    note = None
    current = module.state_dict()
    if PUZZLE_EMB_KEY in state and PUZZLE_EMB_KEY in current and state[PUZZLE_EMB_KEY].shape != current[PUZZLE_EMB_KEY].shape:
        old, new_shape = state[PUZZLE_EMB_KEY], current[PUZZLE_EMB_KEY].shape
        if old.shape[1:] != new_shape[1:]:
            raise ValueError(f"{path}: puzzle embedding width {old.shape[1]} does not match arch.puzzle_emb_ndim={new_shape[1]}")
        state[PUZZLE_EMB_KEY] = old.float().mean(dim=0, keepdim=True).expand(new_shape).clone().to(old.dtype)
        note = (f"puzzle-embedding table re-initialised: the checkpoint has {old.shape[0]} puzzle identifiers, this "
                f"dataset {new_shape[0]}; every row starts at the old table's mean")
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} does not fit this model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    return note


def model_state_for_saving(module: nn.Module) -> dict[str, Any]:
    """The plain state dict (original key layout, CPU tensors) that model.pt holds."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
