"""Explicit registries from the config's `arch.name` / `arch.loss.name` strings to classes.

The original resolved `module@Class` strings by importing arbitrary modules. Here every name that a config
may use is listed, so a typo is an error that lists the choices rather than an ImportError.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hrm_core.models.act import DATASET_KEYS, ACTConfig, ACTModel
from hrm_core.models.hrm_v1 import HRM, HRMConfig, RecursiveHRMConfig
from hrm_core.models.losses import ACTLossHead
from hrm_core.models.transformers_baseline import BaselineConfig, TransformerBaseline
from hrm_core.models.trm import TRM, TRMConfig
from hrm_core.models.trm_hier6 import TRMHier6, TRMHier6Config
from hrm_core.models.trm_singlez import TRMSingleZ, TRMSingleZConfig


@dataclass(frozen=True)
class ModelEntry:
    model: type[ACTModel]
    config: type[ACTConfig]  # the arch keys it takes, with their checks


# The originals' names (`arch.name` in their configs), then short aliases (the config/arch group names) for
# people writing configs by hand.
HRM_V1 = "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"
TRM_NAME = "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"
MODELS: dict[str, ModelEntry] = {
    HRM_V1: ModelEntry(HRM, HRMConfig),
    TRM_NAME: ModelEntry(TRM, TRMConfig),
    "recursive_reasoning.trm_singlez@TinyRecursiveReasoningModel_ACTV1": ModelEntry(TRMSingleZ, TRMSingleZConfig),
    "recursive_reasoning.trm_hier6@TinyRecursiveReasoningModel_ACTV1": ModelEntry(TRMHier6, TRMHier6Config),
    "recursive_reasoning.transformers_baseline@Model_ACTV2": ModelEntry(TransformerBaseline, BaselineConfig),
    "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1": ModelEntry(HRM, RecursiveHRMConfig),
}
ALIASES = {
    "hrm_act_v1": HRM_V1,
    "trm": TRM_NAME,
    "trm_singlez": "recursive_reasoning.trm_singlez@TinyRecursiveReasoningModel_ACTV1",
    "trm_hier6": "recursive_reasoning.trm_hier6@TinyRecursiveReasoningModel_ACTV1",
    "transformers_baseline": "recursive_reasoning.transformers_baseline@Model_ACTV2",
    "hrm": "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1",
}
MODELS.update({alias: MODELS[name] for alias, name in ALIASES.items()})
DEFAULT_MODEL = HRM_V1

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


def all_arch_keys() -> set[str]:
    """Every hyperparameter some architecture takes."""
    return {key for entry in MODELS.values() for key in entry.config.arch_keys()}


def model_config(arch: Mapping[str, Any], *, batch_size: int, seq_len: int, vocab_size: int,
                 num_puzzle_identifiers: int) -> ACTConfig:
    """Validates the hyperparameters of `arch` (everything but `name` and `loss`) into the config of the
    architecture `arch.name` names. Errors name the key (`arch.<key>`) and what it should be."""
    name = arch.get("name", DEFAULT_MODEL)
    config_cls = _lookup(MODELS, name, "arch.name").config
    hyper = {k: v for k, v in arch.items() if k not in ("name", "loss")}
    known = config_cls.arch_keys()
    for key in hyper:
        if key in known:
            continue
        if key in DATASET_KEYS:
            raise ValueError(f"arch.{key} is set by the dataset and the trainer, not in arch")
        if key in all_arch_keys():
            raise ValueError(f"arch.{key} is not a hyperparameter of {name}; it takes {', '.join(known)}")
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean arch.{close[0]}?" if close else ""
        raise ValueError(f"arch.{key} is not a model hyperparameter.{hint}")
    missing = [k for k in config_cls.required_keys() if k not in hyper]
    if missing:
        raise ValueError(f"arch is missing {', '.join('arch.' + k for k in missing)} (needed by {name})")
    return config_cls(batch_size=batch_size, seq_len=seq_len, vocab_size=vocab_size,
                      num_puzzle_identifiers=num_puzzle_identifiers, **hyper)


def build_model(arch: Mapping[str, Any], *, batch_size: int, seq_len: int, vocab_size: int,
                num_puzzle_identifiers: int, device: torch.device | str | None = None) -> nn.Module:
    """Builds the loss head around the model that `arch` names, on `device` (default: torch's default device).

    `arch` is the config's `arch` node as a mapping: `name`, `loss: {name, loss_type}` and the model's
    hyperparameters. `batch_size` is the per-process batch (the puzzle-embedding optimizer keeps one row of
    gradient per slot). The result's `state_dict()` uses the original implementation's keys.
    """
    arch = dict(arch)
    model_cls = _lookup(MODELS, arch.get("name", DEFAULT_MODEL), "arch.name").model
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
