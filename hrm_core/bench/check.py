"""`python -m hrm_core.bench check`: recorded reference rollouts replayed on a device (fp32, bf16, compiled)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from hrm_core.bench.step import device_description


def check_device(device: torch.device, fixture: str | Path | None) -> list[str]:
    """Replays each fixture's train rollout on `device` in float32, bfloat16 and compiled; returns report lines.

    `fixture` is a fixture file, a folder of them, or None for the repository's HRM fixture.
    """
    from hrm_core.models.attention import resolve_attention
    from hrm_core.models.layers import Attention
    from hrm_core.bench.reference import (build_reference_model, compare_rollout, fixture_paths, load_reference,
                                          reference_arch, replay_train_rollout)
    from hrm_core.models.registry import build_model

    paths = fixture_paths(fixture)
    lines = [f"device: {device_description(device)}, torch {torch.__version__}"]
    backend, _ = resolve_attention("auto")
    lines.append(f"attention: auto -> {backend}" + ("" if backend != "sdpa" else
                 " (flash-attn not importable; PyTorch SDPA picks its own fused kernel on CUDA)"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 must mean float32 for the comparison
        torch.backends.cudnn.allow_tf32 = False

    for path in paths:
        reference = load_reference(path)
        name = reference["arch"].get("name", "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1")
        lines.append(f"{path.name} ({name}):")
        if device.type != "cpu" and reference["arch"]["halt_exploration_prob"] > 0:
            # Exploration draws from the device's generator, whose stream differs from the CPU's that recorded it.
            lines.append(f"  skipped: its rollout draws exploration random numbers, which differ on {device.type}")
            continue

        def run(label: str, compile_model: bool = False, **arch) -> None:
            module = build_reference_model(reference, device=device, **arch).train()
            forward = torch.compile(module, dynamic=False) if compile_model else None
            t0 = time.perf_counter()
            report = compare_rollout(replay_train_rollout(module, reference, forward), reference)
            errors = ", ".join(f"{k} {v:.2e}" for k, v in report["max_rel_error"].items())
            lines.append(f"  {label}: max relative error vs reference: {errors}; halting decisions differing: "
                         f"{report['halting_mismatches']} ({time.perf_counter() - t0:.1f} s)")

        run("float32 eager", forward_dtype="float32")
        run("bfloat16 eager", forward_dtype="bfloat16")
        run("bfloat16 compiled", compile_model=True, forward_dtype="bfloat16")
        arch, dims = reference_arch(reference)
        uses_attention = any(isinstance(m, Attention) for m in build_model(arch, device="meta", **dims).modules())
        if backend != "sdpa" and uses_attention:
            run(f"bfloat16 {backend}", forward_dtype="bfloat16", attn_backend=backend)
    return lines
