"""The training-step benchmark: `python -m hrm_core.bench step --size NAME`, and its FLOP count (for MFU)."""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

import torch

from hrm_core.models.registry import arch_config, build_model


@dataclass(frozen=True)
class BenchSize:
    """A recipe: its architecture as `python -m hrm_core.pretrain` overrides, and the per-process batch shape."""

    overrides: tuple[str, ...]  # composed with the installed config tree, e.g. ("arch=trm", "arch.mlp_t=True")
    batch_size: int
    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    about: str

    @property
    def arch(self) -> dict:
        return composed_arch(self.overrides)


@functools.cache
def composed_arch(overrides: tuple[str, ...]) -> dict:
    """The `arch` node that `python -m hrm_core.pretrain OVERRIDES` trains (the config tree's defaults applied)."""
    from hrm_core.config import compose, to_plain_dict, validate

    return to_plain_dict(validate(compose(list(overrides))))["arch"]


TINY_HRM = ("arch.hidden_size=64", "arch.num_heads=4", "arch.H_layers=2", "arch.L_layers=2", "arch.halt_max_steps=4")
# TRM's README command lines (arch=trm, then its arch.* overrides); the other keys are config/arch/trm.yaml's.
TRM_SUDOKU_MLP = ("arch=trm", "arch.mlp_t=True", "arch.pos_encodings=none", "arch.L_layers=2", "arch.H_cycles=3",
                  "arch.L_cycles=6")
TRM_SUDOKU_ATT = ("arch=trm", "arch.L_layers=2", "arch.H_cycles=3", "arch.L_cycles=6")
TRM_ARC = ("arch=trm", "arch.L_layers=2", "arch.H_cycles=3", "arch.L_cycles=4")

SIZES = {
    "tiny": BenchSize(TINY_HRM, 32, 81, 11, 1000, "a small Sudoku-shaped HRM that runs anywhere in seconds"),
    "sudoku": BenchSize((), 384, 81, 11, 1001, "HRM's Sudoku-Extreme setup (hidden 512, global batch 384)"),
    "arc": BenchSize((), 96, 900, 12, 1000, "HRM's ARC setup, per GPU (global batch 768 / 8 GPUs)"),
    "trm_tiny": BenchSize(("arch=trm", "arch.hidden_size=64", "arch.num_heads=4", "arch.L_layers=2", "arch.H_cycles=3",
                           "arch.L_cycles=4", "arch.halt_max_steps=4", "arch.puzzle_emb_len=1"), 32, 81, 11, 1000,
                          "a small Sudoku-shaped TRM (hidden 64) that runs anywhere in seconds"),
    "trm_sudoku_mlp": BenchSize(TRM_SUDOKU_MLP, 768, 81, 11, 1001, "TRM-MLP on Sudoku-Extreme (1 GPU, global batch 768)"),
    "trm_sudoku_att": BenchSize(TRM_SUDOKU_ATT, 768, 81, 11, 1001, "TRM with attention on Sudoku-Extreme (1 GPU, batch 768)"),
    "trm_arc": BenchSize(TRM_ARC, 192, 900, 12, 1000, "TRM on ARC-AGI, per GPU (global batch 768 / 4 GPUs)"),
    "trm_maze": BenchSize(TRM_ARC, 192, 900, 6, 1000, "TRM on Maze-Hard 30x30, per GPU (global batch 768 / 4 GPUs)"),
}

# Dense bf16 tensor-core peaks (FLOP/s) by device-name substring, for MFU.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "4090": 165e12}


def swiglu_inter(width: int, expansion: float) -> int:
    """The SwiGLU's hidden width: 2/3 of expansion * width, rounded up to a multiple of 256 (layers.SwiGLU)."""
    return -(-round(expansion * width * 2 / 3) // 256) * 256


def block_flops(config) -> int:
    """Matmul and attention FLOPs of one reasoning block on one sequence of T positions."""
    D, T = config.hidden_size, config.total_positions
    inter = swiglu_inter(D, config.expansion)
    channel_mlp = 2 * T * (D * 2 * inter + inter * D)
    if config.mlp_t_width is not None:  # the MLP across positions runs once per channel
        inter_t = swiglu_inter(T, config.expansion)
        mixing = 2 * D * (T * 2 * inter_t + inter_t * T)
    else:
        width = config.num_heads * (D // config.num_heads)  # the heads' channels (D when heads divide D)
        mixing = 2 * T * (D * 3 * width + width * D) + 4 * T * T * width  # projections, then QK^T and AV
    return channel_mlp + mixing


def train_step_flops(arch: dict, batch_size: int, seq_len: int, vocab_size: int) -> float:
    """Model FLOPs of one training ACT step (matmuls and attention; norms, embeddings and elementwise ops ignored).

    Every forward pass counts, the no-grad ones included: one core forward runs `block_passes()` blocks (for
    TRM, H_cycles x (L_cycles + 1) passes of its L_layers-block network, all but the last cycle without
    gradient), plus the heads (lm_head on all T positions, q_head on position 0). A training step runs the
    core once more without gradient when it computes a Q-continue target (HRM, TRM with no_ACT_continue=false),
    and back-propagates (2x the forward FLOPs) through the blocks and heads that ran with gradient.
    """
    config = arch_config(arch).sized(batch_size=batch_size, seq_len=seq_len, vocab_size=vocab_size, num_puzzle_identifiers=1)
    D, T = config.hidden_size, config.total_positions
    block = block_flops(config)
    without_grad, with_grad = config.block_passes()
    heads = 2 * T * D * vocab_size + 2 * D * 2
    forward = (without_grad + with_grad) * block + heads
    forwards = 2 if config.q_target_pass() else 1
    backward = 2 * (with_grad * block + heads)
    return float(batch_size * (forwards * forward + backward))


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


def bench_step(size: BenchSize, arch: dict, device: torch.device, compile_model: bool, warmup: int, steps: int) -> dict:
    """Times the trainer's step for the recipe `size` with the `arch` node (the recipe's, maybe overridden)."""
    from hrm_core.models.layers import Attention
    from hrm_core.optim import AdamATan2, SparseSignSGD

    torch.manual_seed(0)
    module = build_model(arch, batch_size=size.batch_size, seq_len=size.seq_len, vocab_size=size.vocab_size,
                         num_puzzle_identifiers=size.num_puzzle_identifiers, device=device).train()
    optimizers = [AdamATan2(module.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)]
    if module.model.puzzle_emb is not None:
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
    flops = train_step_flops(arch, size.batch_size, size.seq_len, size.vocab_size)
    attention = next((m.backend for m in module.modules() if isinstance(m, Attention)), "none (mlp_t)")
    result = {
        "device": device_description(device),
        "compile": compile_model,
        "dtype": str(module.model.inner.forward_dtype).removeprefix("torch."),
        "arch": arch["name"],
        "attention": attention,
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
