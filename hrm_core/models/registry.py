"""Explicit registries from the config's `arch.name` / `arch.loss.name` strings to classes.

The original resolved `module@Class` strings by importing arbitrary modules. Here every name that a config
may use is listed, so a typo is an error that lists the choices rather than an ImportError.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hrm_core.models.losses import ACTLossHead
from hrm_core.models.hrm_v1 import HRM, ModelConfig

# The original's names first; short aliases for people writing configs by hand.
MODELS: dict[str, type[nn.Module]] = {
    "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1": HRM,
    "hrm_act_v1": HRM,
}
LOSS_HEADS: dict[str, type[nn.Module]] = {
    "losses@ACTLossHead": ACTLossHead,
    "ACTLossHead": ACTLossHead,
}


def _lookup(registry: Mapping[str, Any], name: str, key: str):
    if name in registry:
        return registry[name]
    close = difflib.get_close_matches(str(name), list(registry), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{key}={name!r} is unknown. Known: {', '.join(registry)}.{hint}")


def model_config(arch: Mapping[str, Any], *, batch_size: int, seq_len: int, vocab_size: int,
                 num_puzzle_identifiers: int) -> ModelConfig:
    """Validates the hyperparameters of `arch` (everything but `name` and `loss`) into a ModelConfig."""
    hyper = {k: v for k, v in arch.items() if k not in ("name", "loss")}
    known = set(ModelConfig.field_names())
    dataset_keys = {"batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers"}
    for key in hyper:
        if key not in known or key in dataset_keys:
            close = difflib.get_close_matches(key, sorted(known - dataset_keys), n=1)
            hint = f" Did you mean arch.{close[0]}?" if close else ""
            raise ValueError(f"arch.{key} is not a model hyperparameter.{hint}")
    required = {"H_cycles", "L_cycles", "H_layers", "L_layers", "hidden_size", "expansion", "num_heads",
                "pos_encodings", "halt_max_steps", "halt_exploration_prob"}
    missing = sorted(required - hyper.keys())
    if missing:
        raise ValueError(f"arch is missing {', '.join('arch.' + k for k in missing)}")
    return ModelConfig(batch_size=batch_size, seq_len=seq_len, vocab_size=vocab_size,
                       num_puzzle_identifiers=num_puzzle_identifiers, **hyper)


def build_model(arch: Mapping[str, Any], *, batch_size: int, seq_len: int, vocab_size: int,
                num_puzzle_identifiers: int, device: torch.device | str | None = None) -> nn.Module:
    """Builds the loss head around the model that `arch` names, on `device` (default: torch's default device).

    `arch` is the config's `arch` node as a mapping: `name`, `loss: {name, loss_type}` and the model's
    hyperparameters. `batch_size` is the per-process batch (the puzzle-embedding optimizer keeps one row of
    gradient per slot). The result's `state_dict()` uses the original implementation's keys.
    """
    arch = dict(arch)
    model_cls = _lookup(MODELS, arch.get("name", "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"), "arch.name")
    loss = dict(arch.get("loss") or {})
    head_cls = _lookup(LOSS_HEADS, loss.get("name", "losses@ACTLossHead"), "arch.loss.name")
    unknown_loss_keys = set(loss) - {"name", "loss_type"}
    if unknown_loss_keys:
        raise ValueError(f"arch.loss.{sorted(unknown_loss_keys)[0]} is unknown; arch.loss takes name and loss_type")

    config = model_config(arch, batch_size=batch_size, seq_len=seq_len, vocab_size=vocab_size,
                          num_puzzle_identifiers=num_puzzle_identifiers)
    device = torch.device(device) if device is not None else torch.get_default_device()
    with torch.device(device):
        model = model_cls(config, config.resolved_dtype(device))
        return head_cls(model, loss.get("loss_type", "stablemax_cross_entropy"))


def load_state_dict_compat(module: nn.Module, state_dict: Mapping[str, torch.Tensor], strict: bool = True):
    """Loads a state dict saved by this project or the original, also from a torch.compile'd model."""
    prefix = "_orig_mod."
    cleaned = {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state_dict.items()}
    return module.load_state_dict(cleaned, strict=strict)
