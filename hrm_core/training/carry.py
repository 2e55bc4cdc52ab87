"""The ACT carry in checkpoints.

Training keeps one carry across steps: each batch slot holds a puzzle until it halts, so a slot can be in
the middle of a puzzle when a checkpoint is written. For an exact resume each rank saves its carry (the
recurrent states z_H / z_L, step counters, halted flags and the puzzles being worked on) and restores it.

Rule when it cannot be restored (a different world size, or loading weights for a new run): the carry
restarts empty, i.e. every slot takes a fresh puzzle at the next step, exactly as at the start of training.

The carry is the model's dataclass (hrm_core.models.act.Carry); it is stored as a flat dict of tensors keyed by
field path ("inner_carry.z_H", "current_data.inputs", ...) so the file loads with `weights_only=True`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


def flatten_carry(carry: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(carry, torch.Tensor):
        return {prefix.rstrip("."): carry.detach().cpu().clone()}
    items: Any
    if dataclasses.is_dataclass(carry):
        items = ((f.name, getattr(carry, f.name)) for f in dataclasses.fields(carry))
    elif isinstance(carry, dict):
        items = carry.items()
    else:
        raise TypeError(f"cannot save a carry field of type {type(carry).__name__} at {prefix!r}")
    flat: dict[str, torch.Tensor] = {}
    for name, value in items:
        flat.update(flatten_carry(value, f"{prefix}{name}."))
    return flat


def restore_carry(template: Any, flat: dict[str, torch.Tensor], device: torch.device, prefix: str = "") -> Any:
    """A carry shaped like `template` (e.g. `model.initial_carry(batch)`) holding the saved tensors."""
    if isinstance(template, torch.Tensor):
        saved = flat[prefix.rstrip(".")]
        if saved.shape != template.shape or saved.dtype != template.dtype:
            raise ValueError(f"saved carry {prefix.rstrip('.')} is {tuple(saved.shape)} {saved.dtype}, the model expects {tuple(template.shape)} {template.dtype}")
        return saved.to(device)
    if dataclasses.is_dataclass(template):
        return dataclasses.replace(template, **{
            f.name: restore_carry(getattr(template, f.name), flat, device, f"{prefix}{f.name}.") for f in dataclasses.fields(template)
        })
    return {name: restore_carry(value, flat, device, f"{prefix}{name}.") for name, value in template.items()}
