"""Builds what the loop trains: the model (optionally compiled), its two optimizers and their peak rates.

As in the original: the per-process batch is global_batch_size / world_size; every rank builds the model
from its own seed, then takes rank 0's weights (broadcast); the puzzle-embedding table is trained by sparse
sign-SGD at `puzzle_emb_lr`, everything else by AdamATan2 at `lr`. A model without puzzle embedding
(`arch.puzzle_emb_ndim=0`) has no table and so only the AdamATan2 optimizer. With `freeze_weights` (the
TRM reference's key) only the table trains: there is no AdamATan2, and the other weights need no gradient.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from hrm_core.config import TrainConfig
from hrm_core.data.format import DatasetMetadata
from hrm_core.training.checkpoint import CheckpointError, load_model_state
from hrm_core.training.distributed import DistContext

PUZZLE_EMB_KEY = "model.inner.puzzle_emb.weights"


@dataclass
class ModelBundle:
    module: nn.Module  # the loss head as built (state_dict keys in the original's layout)
    forward: nn.Module  # what the loop calls: `module`, or its torch.compile wrapper
    optimizers: list[torch.optim.Optimizer]  # [puzzle-embedding sign-SGD (if the model has the table), AdamATan2]
    base_lrs: list[float]  # peak rate of each optimizer, same order
    compiled: bool

    def num_params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def num_puzzle_emb_params(self) -> int:
        table = puzzle_embedding(self.module)
        return 0 if table is None else table.weights.numel()  # type: ignore[union-attr, operator]


def puzzle_embedding(module: nn.Module) -> nn.Module | None:
    """The sparse puzzle-embedding table of a built loss head, or None when arch.puzzle_emb_ndim is 0."""
    return module.model.puzzle_emb  # type: ignore[union-attr]


def should_compile(setting: str, device: torch.device) -> bool:
    """compile=auto: on for CUDA unless DISABLE_COMPILE is set (the original's switch); true/false force it."""
    if setting == "true":
        return True
    if setting == "false":
        return False
    return device.type == "cuda" and "DISABLE_COMPILE" not in os.environ


def build_training_model(config: TrainConfig, metadata: DatasetMetadata, ctx: DistContext) -> ModelBundle:
    from hrm_core.optim import AdamATan2, SparseSignSGD
    from hrm_core.models.registry import build_model

    module = build_model(
        config.arch,
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

    # Rates start at 0: the loop sets every step's rate from the schedule before stepping.
    optimizers: list[torch.optim.Optimizer] = []
    base_lrs: list[float] = []
    table = puzzle_embedding(module)
    if table is not None:
        optimizers.append(SparseSignSGD(table.buffers(), lr=0.0, weight_decay=config.puzzle_emb_weight_decay,
                                        world_size=ctx.world_size))
        base_lrs.append(config.puzzle_emb_lr)
    if config.freeze_weights:  # validation made sure there is a table to train
        module.requires_grad_(False)  # gradients still reach the table: its forward keeps its own graph
    else:
        optimizers.append(AdamATan2(module.parameters(), lr=0.0, weight_decay=config.weight_decay,
                                    betas=(config.beta1, config.beta2)))
        base_lrs.append(config.lr)
    compiled = should_compile(config.compile, ctx.device)
    forward = torch.compile(module, dynamic=False) if compiled else module
    return ModelBundle(module=module, forward=forward, optimizers=optimizers,  # type: ignore[arg-type]
                       base_lrs=base_lrs, compiled=compiled)


def state_dict_mismatches(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> list[str]:
    """Why `state` cannot load into a model whose state dict is `expected` ([] when it fits): the first key of
    another shape, and the first few missing and unexpected keys."""
    problems = []
    mismatched = [k for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if mismatched:
        k = mismatched[0]
        problems.append(f"{k} has shape {tuple(state[k].shape)} in the checkpoint, {tuple(expected[k].shape)} in the model")
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing:
        problems.append(f"missing {', '.join(missing[:3])}" + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:3])}" + (f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""))
    return problems


def fit_pretrained_weights(state: dict[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
                           path: str | Path) -> tuple[dict[str, torch.Tensor], str | None]:
    """Fine-tuning's rule: the checkpoint's weights for a model whose state dict is `expected`.

    A puzzle-embedding table with another number of rows (another dataset) is replaced by the old table's mean
    row for every puzzle; everything else must match exactly. Returns (weights, a note saying what was
    re-initialised or None); raises CheckpointError when the weights do not fit.
    """
    note = None
    if PUZZLE_EMB_KEY in state and PUZZLE_EMB_KEY in expected and state[PUZZLE_EMB_KEY].shape != expected[PUZZLE_EMB_KEY].shape:
        old, new_shape = state[PUZZLE_EMB_KEY], expected[PUZZLE_EMB_KEY].shape
        if old.shape[1:] != new_shape[1:]:
            raise CheckpointError(f"{path}: its puzzle embedding has width {old.shape[1]}, this model "
                                  f"{new_shape[1]} (arch.puzzle_emb_ndim); fine-tuning needs the same architecture")
        state = dict(state)
        state[PUZZLE_EMB_KEY] = old.float().mean(dim=0, keepdim=True).expand(new_shape).clone().to(old.dtype)
        note = (f"puzzle-embedding table re-initialised: the checkpoint has {old.shape[0]} puzzle identifiers, this "
                f"dataset {new_shape[0]}; every row starts at the old table's mean")
    problems = state_dict_mismatches(expected, state)
    if problems:
        raise CheckpointError(f"{path} does not fit the model of this config: {'; '.join(problems)}")
    return state, note


def load_pretrained_weights(module: nn.Module, path: str) -> str | None:
    """Fine-tuning: loads weights from a checkpoint folder or a weights file (original layout, also with
    `_orig_mod.` keys) by `fit_pretrained_weights`'s rule. Returns its note, or None."""
    state, note = fit_pretrained_weights(load_model_state(path), module.state_dict(), path)
    module.load_state_dict(state)
    return note


def check_pretrained_weights(config: TrainConfig, metadata: DatasetMetadata, path: str) -> None:
    """Raises CheckpointError unless `load_pretrained_weights` will succeed for this config and dataset.

    Runs before the run starts (nothing written yet): the weights are read and compared with a model built
    on the meta device, which has the real shapes but allocates nothing.
    """
    from hrm_core.models.registry import build_model

    state = load_model_state(path)
    module = build_model(config.arch, batch_size=1, seq_len=metadata.seq_len, vocab_size=metadata.vocab_size,
                         num_puzzle_identifiers=metadata.num_puzzle_identifiers, device=torch.device("meta"))
    fit_pretrained_weights(state, module.state_dict(), path)


def model_state_for_saving(module: nn.Module) -> dict[str, Any]:
    """The plain state dict (original key layout, CPU tensors) that model.pt holds."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
