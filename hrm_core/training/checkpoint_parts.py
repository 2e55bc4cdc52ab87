"""The parts of the training state that are not `state_dict()` objects already, as `Stateful` ones.

A checkpoint is a dict of stateful parts (`checkpoint.CheckpointParts`): `TrainProgress`, `TrainBatches` and
`EMA` are parts as they are; the weights, the optimizer list and the per-rank pieces (RNGs, ACT carry,
example stream) get the small adapters below, so that `checkpoint.py` saves and restores everything with one
loop. A part may also have `load_absent()`: what restoring does when the checkpoint has no state for it
(a checkpoint written before the part existed, or by another number of processes: docs/checkpoints.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from hrm_core.data.loader import TrainBatches
from hrm_core.training.carry import flatten_carry, restore_carry
from hrm_core.training.ema import EMA
from hrm_core.training.model_setup import model_state_for_saving
from hrm_core.training.rng import load_rng_state, rng_state, seed_everything


class ExportedWeights:
    """model.pt: the weights other tools load (the EMA weights when EMA is on, as the TRM reference saves)."""

    def __init__(self, module: nn.Module, ema: EMA | None):
        self.module, self.ema = module, ema

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.ema is None:
            return model_state_for_saving(self.module)
        with self.ema.swapped_in():
            return model_state_for_saving(self.module)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


class TrainingWeights:
    """The weights being trained, when model.pt holds others (EMA on); None otherwise (model.pt holds them).

    Restored after model.pt, so a checkpoint that has them continues from them, whatever this run's EMA.
    """

    def __init__(self, module: nn.Module, ema: EMA | None):
        self.module, self.ema = module, ema

    def state_dict(self) -> dict[str, torch.Tensor] | None:
        return model_state_for_saving(self.module) if self.ema is not None else None

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


class Optimizers:
    """The run's optimizers as one part: a list of their state dicts, in the run's order."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]):
        self.optimizers = optimizers

    def state_dict(self) -> list[dict[str, Any]]:
        return [optimizer.state_dict() for optimizer in self.optimizers]

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        if len(states) != len(self.optimizers):
            raise ValueError(f"the checkpoint holds {len(states)} optimizer states, this run has {len(self.optimizers)} optimizers")
        for optimizer, state in zip(self.optimizers, states):
            optimizer.load_state_dict(state)


class RankGenerators:
    """This rank's random generators; without a saved state they are reseeded from `seed + rank + step`."""

    def __init__(self, device: torch.device, reseed_value: Callable[[], int]):
        self.device, self.reseed_value = device, reseed_value

    def state_dict(self) -> dict[str, Any]:
        return rng_state(self.device)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_rng_state(state, self.device)

    def load_absent(self) -> None:
        seed_everything(self.reseed_value())


class ActCarry:
    """This rank's ACT carry (None before the first step); without a saved one it restarts empty."""

    def __init__(self, get: Callable[[], Any], set_: Callable[[Any], None], template: Callable[[], Any], device: torch.device):
        self.get, self.set, self.template, self.device = get, set_, template, device

    def state_dict(self) -> dict[str, torch.Tensor] | None:
        carry = self.get()
        return flatten_carry(carry) if carry is not None else None

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.set(restore_carry(self.template(), state, self.device))

    def load_absent(self) -> None:
        self.set(None)


class ExampleStream:
    """This rank's example stream (TrainBatches' per-rank half); without a saved one it is reseeded."""

    def __init__(self, sampler: TrainBatches, reseed_value: Callable[[], int]):
        self.sampler, self.reseed_value = sampler, reseed_value

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.rank_state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_rank_state_dict(state)

    def load_absent(self) -> None:
        self.sampler.seed_example_stream(self.reseed_value())
