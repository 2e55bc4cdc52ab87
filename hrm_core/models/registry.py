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

from hrm_core.checking import SettingError, check_settings
from hrm_core.models.act import ACTConfig, ACTModel
from hrm_core.models.hrm_v1 import HRM, HRMConfig, RecursiveHRMConfig
from hrm_core.models.losses import LOSS_HEADS
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



def all_arch_keys() -> set[str]:
    """Every hyperparameter some architecture takes."""
    return {key for entry in MODELS.values() for key in entry.config.arch_keys()}


def config_class(arch: Mapping[str, Any]) -> type[ACTConfig]:
    """The config class of the architecture the `arch` node names (its `name`); SettingError at arch.name."""
    name = arch.get("name")
    if name is None:
        raise SettingError("arch.name", "required key `arch.name` is missing",
                           hint=f"set it, e.g. arch.name={DEFAULT_MODEL} (`python -m hrm_core.config` lists the models)")
    entry = MODELS.get(name) if isinstance(name, str) else None
    if entry is None:
        close = difflib.get_close_matches(str(name), list(MODELS), n=1, cutoff=0.5)
        raise SettingError("arch.name", f"arch.name={name!r} is not a known model",
                           hint=(f"did you mean {close[0]!r}? " if close else "") + f"known: {', '.join(MODELS)}")
    return entry.config


def arch_config(arch: ACTConfig | Mapping[str, Any]) -> ACTConfig:
    """The `arch` node as its architecture's config: checked key by key (SettingError names the key); without
    a `name`, HRM ACT v1's. An ACTConfig is returned as it is (the trainer's config holds one already)."""
    if isinstance(arch, ACTConfig):
        return arch
    arch = {"name": DEFAULT_MODEL, **arch}  # a mapping that names no model is HRM's (the original's default)
    return check_settings(config_class(arch), arch, "arch.")


def build_model(arch: ACTConfig | Mapping[str, Any], *, batch_size: int, seq_len: int, vocab_size: int,
                num_puzzle_identifiers: int, device: torch.device | str | None = None) -> nn.Module:
    """Builds the loss head around the model that `arch` names, on `device` (default: torch's default device).

    `arch` is the validated config's `arch` (an ACTConfig), or the `arch` node as a mapping: `name`,
    `loss: {name, loss_type}` and the model's hyperparameters. `batch_size` is the per-process batch (the
    puzzle-embedding optimizer keeps one row of gradient per slot). The result's `state_dict()` uses the
    original implementation's keys.
    """
    config = arch_config(arch).sized(batch_size=batch_size, seq_len=seq_len, vocab_size=vocab_size,
                                     num_puzzle_identifiers=num_puzzle_identifiers)
    model_cls = MODELS[config.name].model
    device = torch.device(device) if device is not None else torch.get_default_device()
    with torch.device(device):
        model = model_cls(config, config.resolved_dtype(device))
        return LOSS_HEADS[config.loss.name](model, config.loss.loss_type)


def load_state_dict_compat(module: nn.Module, state_dict: Mapping[str, torch.Tensor], strict: bool = True):
    """Loads a state dict saved by this project or the original, also from a torch.compile'd model."""
    prefix = "_orig_mod."
    cleaned = {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state_dict.items()}
    return module.load_state_dict(cleaned, strict=strict)
