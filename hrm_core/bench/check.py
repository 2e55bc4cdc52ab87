"""`python -m hrm_core.bench check`: the recorded reference rollout replayed on a device (fp32, bf16, compiled)."""

from __future__ import annotations

import time

import torch

from hrm_core.bench.step import device_description


def check_device(device: torch.device, fixture: str | None) -> list[str]:
    """Replays the reference rollout on `device` in float32, bfloat16 and compiled; returns report lines."""
    from hrm_core.models.attention import resolve_attention
    from hrm_core.bench.reference import build_reference_model, compare_rollout, load_reference, replay_train_rollout

    reference = load_reference(fixture)
    lines = [f"device: {device_description(device)}, torch {torch.__version__}"]
    backend, _ = resolve_attention("auto")
    lines.append(f"attention: auto -> {backend}" + ("" if backend != "sdpa" else
                 " (flash-attn not importable; PyTorch SDPA picks its own fused kernel on CUDA)"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 must mean float32 for the comparison
        torch.backends.cudnn.allow_tf32 = False

    def run(label: str, compile_model: bool = False, **arch) -> None:
        module = build_reference_model(reference, device=device, **arch).train()
        forward = torch.compile(module, dynamic=False) if compile_model else None
        t0 = time.perf_counter()
        report = compare_rollout(replay_train_rollout(module, reference, forward), reference)
        errors = ", ".join(f"{k} {v:.2e}" for k, v in report["max_rel_error"].items())
        lines.append(f"{label}: max relative error vs reference: {errors}; halting decisions differing: "
                     f"{report['halting_mismatches']} ({time.perf_counter() - t0:.1f} s)")

    run("float32 eager", forward_dtype="float32")
    run("bfloat16 eager", forward_dtype="bfloat16")
    run("bfloat16 compiled", compile_model=True, forward_dtype="bfloat16")
    if backend != "sdpa":
        run(f"bfloat16 {backend}", forward_dtype="bfloat16", attn_backend=backend)
    return lines
