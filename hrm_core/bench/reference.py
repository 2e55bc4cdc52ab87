"""Replaying a rollout recorded from an original implementation (the fixtures of tests/fixtures/).

The test suite holds the CPU float32 models to them exactly; `python -m hrm_core.bench check` replays them on
other devices and dtypes and reports the distance. tests/fixtures/README.md describes the layout, and
tools/record_reference_fixtures.py records them from checkouts of the originals.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from hrm_core.models.act import DATASET_KEYS
from hrm_core.models.registry import DEFAULT_MODEL, build_model, load_state_dict_compat

TRAIN_OUTPUT_KEYS = ("logits", "q_halt_logits", "q_continue_logits", "target_q_continue")
DEFAULT_FIXTURE = "hrm_reference_tiny.pt"


def repo_fixtures_dir() -> Path:
    """tests/fixtures of the checkout this package runs from (absent from a plain `pip install`)."""
    return Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def default_fixture_path() -> Path:
    """The repository's HRM fixture; a FileNotFoundError that says which flag to pass when it is not there."""
    path = repo_fixtures_dir() / DEFAULT_FIXTURE
    if not path.exists():
        raise FileNotFoundError(
            f"no reference fixture at {path}: an installed package has no tests/ folder. Pass --fixture PATH, "
            f"e.g. --fixture tests/fixtures/{DEFAULT_FIXTURE} (or the folder tests/fixtures) of a clone of the repository")
    return path


def fixture_paths(path: str | Path | None) -> list[Path]:
    """The fixture files `path` names: a .pt file, or every .pt in a folder; None = the repository's HRM one."""
    if path is None:
        return [default_fixture_path()]
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.pt"))
        if not found:
            raise FileNotFoundError(f"no .pt fixture in {path}")
        return found
    if not path.exists():
        raise FileNotFoundError(f"fixture {path} does not exist")
    return [path]


def load_reference(path: str | Path | None = None) -> dict[str, Any]:
    return torch.load(path or default_fixture_path(), weights_only=True)


def reference_arch(reference: Mapping[str, Any], **arch_overrides: Any) -> tuple[dict[str, Any], dict[str, int]]:
    """The fixture's `arch` node (name, loss, hyperparameters) and the dataset sizes build_model takes."""
    hyper = dict(reference["arch"])
    dims = {k: hyper.pop(k) for k in DATASET_KEYS}
    arch = dict(
        name=hyper.pop("name", DEFAULT_MODEL),  # the first HRM fixture stores no name
        loss=dict(name="losses@ACTLossHead", loss_type=reference["loss_type"]),
        **hyper,
    )
    arch.update(arch_overrides)
    return arch, dims


def build_reference_model(reference: Mapping[str, Any], device: str | torch.device = "cpu",
                          **arch_overrides: Any) -> torch.nn.Module:
    """The fixture's model with its recorded weights, on `device`."""
    arch, dims = reference_arch(reference, **arch_overrides)
    module = build_model(arch, device=device, **dims)
    load_state_dict_compat(module, reference["state_dict"])
    return module


def replay_train_rollout(module: torch.nn.Module, reference: Mapping[str, Any], forward=None) -> list[dict[str, Any]]:
    """Runs the recorded train-mode rollout (same batch every ACT step); returns per-step results on CPU."""
    forward = module if forward is None else forward
    device = next(module.parameters()).device
    batch = {k: v.to(device) for k, v in reference["batch"].items()}
    torch.manual_seed(reference.get("rollout_seed", 0))  # exploration draws from torch's generator
    carry = module.initial_carry(batch)
    results = []
    for _ in reference["train_steps"]:
        carry, loss, metrics, outputs, all_halted = forward(carry=carry, batch=batch, return_keys=list(TRAIN_OUTPUT_KEYS))
        results.append({
            "loss": loss.detach().double().cpu(),
            "metrics": {k: v.detach().double().cpu() for k, v in metrics.items()},
            "outputs": {k: v.float().cpu() for k, v in outputs.items()},
            "halted": carry.halted.cpu(),
            "steps": carry.steps.cpu(),
            "all_halted": bool(all_halted),
        })
    return results


def max_relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |a - e| / (max |e| + tiny): one number per tensor, robust to near-zero entries."""
    expected = expected.double()
    return float((actual.double() - expected).abs().max() / (expected.abs().max() + 1e-12))


def compare_rollout(results: list[dict[str, Any]], reference: Mapping[str, Any]) -> dict[str, Any]:
    """Worst relative errors over the rollout and how many halting decisions differ."""
    worst = {"loss": 0.0, "logits": 0.0, "q_halt_logits": 0.0}
    halting_mismatches = 0
    for got, expected in zip(results, reference["train_steps"]):
        worst["loss"] = max(worst["loss"], max_relative_error(got["loss"], expected["loss"]))
        for key in ("logits", "q_halt_logits"):
            worst[key] = max(worst[key], max_relative_error(got["outputs"][key], expected["outputs"][key]))
        halting_mismatches += int((got["halted"] != expected["halted"]).sum())
    return {"max_rel_error": worst, "halting_mismatches": halting_mismatches}
