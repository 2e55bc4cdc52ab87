"""The training-step benchmark: `python -m hrm_core.bench step --size NAME`, and its FLOP count (for MFU)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from hrm_core.models.registry import build_model

BASE_ARCH = dict(
    name="hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
    loss=dict(name="losses@ACTLossHead", loss_type="stablemax_cross_entropy"),
    halt_exploration_prob=0.1,
    halt_max_steps=16,
    H_cycles=2,
    L_cycles=2,
    H_layers=4,
    L_layers=4,
    hidden_size=512,
    num_heads=8,
    expansion=4,
    puzzle_emb_ndim=512,
    pos_encodings="rope",
)


@dataclass(frozen=True)
class BenchSize:
    arch: dict
    batch_size: int
    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int


SIZES = {
    "tiny": BenchSize(dict(BASE_ARCH, hidden_size=64, num_heads=4, H_layers=2, L_layers=2, puzzle_emb_ndim=64, halt_max_steps=4),
                      batch_size=32, seq_len=81, vocab_size=11, num_puzzle_identifiers=1000),
    "sudoku": BenchSize(dict(BASE_ARCH), batch_size=384, seq_len=81, vocab_size=11, num_puzzle_identifiers=1001),
    "arc": BenchSize(dict(BASE_ARCH), batch_size=96, seq_len=900, vocab_size=12, num_puzzle_identifiers=1000),
}

# Dense bf16 tensor-core peaks (FLOP/s) by device-name substring, for MFU.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "4090": 165e12}


def train_step_flops(arch: dict, batch_size: int, seq_len: int, vocab_size: int) -> float:
    """Model FLOPs of one training ACT step (matmuls and attention; norms and elementwise ops ignored).

    Per token of the T = P + S positions, a block costs 2 * (its weights) for the matmuls plus 4 * T * D for
    QK^T and AV. One inner forward runs H_cycles * L_cycles L-passes and H_cycles H-passes; a training
    step runs it twice (the step and the no-grad Q-target pass) and back-propagates (2x forward) through the
    last L-pass, the last H-pass and the heads.
    """
    D, V = arch["hidden_size"], vocab_size
    P = -(-arch.get("puzzle_emb_ndim", 0) // D)
    T = P + seq_len
    inter = -(-round(arch["expansion"] * D * 2 / 3) // 256) * 256
    block_weights = 3 * D * D + D * D + 2 * D * inter + inter * D
    block = 2 * block_weights + 4 * T * D
    pass_L, pass_H = arch["L_layers"] * block, arch["H_layers"] * block
    heads = 2 * D * V
    forward = arch["H_cycles"] * arch["L_cycles"] * pass_L + arch["H_cycles"] * pass_H + heads
    backward = 2 * (pass_L + pass_H + heads)
    return float(batch_size * T * (2 * forward + backward))


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_FLOPS.items() if key in name), None)


def random_batch(size: BenchSize, device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor]:
    shape = (size.batch_size, size.seq_len)
    return {
        "inputs": torch.randint(0, size.vocab_size, shape, generator=generator, dtype=torch.int32).to(device),
        "labels": torch.randint(0, size.vocab_size, shape, generator=generator, dtype=torch.int32).to(device),
        "puzzle_identifiers": torch.randint(1, size.num_puzzle_identifiers, (size.batch_size,), generator=generator,
                                            dtype=torch.int32).to(device),
    }


def bench_step(size: BenchSize, device: torch.device, compile_model: bool, warmup: int, steps: int) -> dict:
    from hrm_core.optim import AdamATan2, SparseSignSGD

    torch.manual_seed(0)
    module = build_model(size.arch, batch_size=size.batch_size, seq_len=size.seq_len, vocab_size=size.vocab_size,
                         num_puzzle_identifiers=size.num_puzzle_identifiers, device=device).train()
    optimizers = [AdamATan2(module.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)]
    if size.arch.get("puzzle_emb_ndim", 0) > 0:
        optimizers.append(SparseSignSGD(module.model.puzzle_emb.buffers(), world_size=1, lr=1e-2, weight_decay=0.1))
    forward = torch.compile(module, dynamic=False) if compile_model else module

    generator = torch.Generator().manual_seed(0)
    batches = [random_batch(size, device, generator) for _ in range(4)]
    carry = module.initial_carry(batches[0])

    def one_step(i: int):
        nonlocal carry
        carry, loss, _, _, _ = forward(carry=carry, batch=batches[i % len(batches)])
        (loss / size.batch_size).backward()
        for opt in optimizers:
            opt.step()
            opt.zero_grad(set_to_none=True)
        return loss

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    for i in range(warmup):
        one_step(i)
    sync()
    warmup_s = time.perf_counter() - t0

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for i in range(steps):
        loss = one_step(i)
    loss.item()
    sync()
    elapsed = time.perf_counter() - t0

    seconds_per_step = elapsed / steps
    flops = train_step_flops(size.arch, size.batch_size, size.seq_len, size.vocab_size)
    result = {
        "device": device_description(device),
        "compile": compile_model,
        "dtype": str(module.model.inner.forward_dtype).removeprefix("torch."),
        "attention": module.model.inner.H_level.layers[0].self_attn.backend,
        "batch_size": size.batch_size,
        "seq_len": size.seq_len,
        "ms_per_step": 1000 * seconds_per_step,
        "tokens_per_s": size.batch_size * size.seq_len / seconds_per_step,
        "model_tflops_per_step": flops / 1e12,
        "model_tflop_per_s": flops / seconds_per_step / 1e12,
        "warmup_s": warmup_s,
        "threads": torch.get_num_threads(),
    }
    peak = peak_flops(device)
    if peak is not None:
        result["mfu"] = flops / seconds_per_step / peak
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda {torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return device.type


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def format_result(size_name: str, r: dict) -> str:
    line = (f"step[{size_name}] {r['device']} {r['dtype']} attn={r['attention']} compile={r['compile']} "
            f"batch={r['batch_size']}x{r['seq_len']}: {r['ms_per_step']:.1f} ms/step, "
            f"{r['tokens_per_s']:,.0f} tokens/s, {r['model_tflop_per_s']:.2f} model TFLOP/s")
    if "mfu" in r:
        line += f", MFU {100 * r['mfu']:.1f}%"
    if "peak_memory_gib" in r:
        line += f", peak mem {r['peak_memory_gib']:.1f} GiB"
    return line
