"""Puzzles per second of `python -m hrm_core.solve` (`python -m hrm_core.bench solve`), so that the figure is
measured, not guessed.

Each case builds a model with random weights (the speed does not depend on what the weights learned) and
times `hrm_core.solve.rollout.rollout_batch`, the code solve runs: every ACT step (`halt_max_steps`), the
per-cell probabilities and the inner cycles decoded, for one batch of random puzzles. One untimed run
first, then the best of `repeats` runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from hrm_core.bench.step import composed_arch
from hrm_core.models.registry import build_model
from hrm_core.solve.rollout import rollout_batch


@dataclass(frozen=True)
class SolveCase:
    overrides: tuple[str, ...]  # pretrain overrides whose `arch` the case builds
    batch_size: int
    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    about: str


SOLVE_CASES = {
    "demo": SolveCase(("+experiment=demo",), 1, 16, 6, 1, "the demo model (4x4 Sudoku, hidden 64), one puzzle"),
    "sudoku": SolveCase((), 1, 81, 11, 1, "HRM's full Sudoku-Extreme model (hidden 512), one puzzle"),
    "sudoku_batch": SolveCase((), 8, 81, 11, 1, "HRM's full Sudoku-Extreme model, a batch of 8 puzzles"),
}


def bench_solve(case: SolveCase, device: torch.device, repeats: int = 3, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    arch = composed_arch(case.overrides)
    module = build_model(arch, batch_size=case.batch_size, seq_len=case.seq_len, vocab_size=case.vocab_size,
                         num_puzzle_identifiers=case.num_puzzle_identifiers, device=device).eval()
    act_model = module.model
    generator = torch.Generator().manual_seed(seed)
    batch = {
        "inputs": torch.randint(1, case.vocab_size, (case.batch_size, case.seq_len), generator=generator,
                                dtype=torch.int32).to(device),
        "puzzle_identifiers": torch.zeros(case.batch_size, dtype=torch.int32, device=device),
    }
    rollout_batch(act_model, batch, case.batch_size)  # untimed: first-call allocations
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        steps = rollout_batch(act_model, batch, case.batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    best = min(times)
    return {
        "batch_size": case.batch_size,
        "act_steps": len(steps[0]),
        "seconds_per_batch": best,
        "puzzles_per_second": case.batch_size / best,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in module.parameters()),
    }


def format_solve_result(name: str, result: dict) -> str:
    return (f"solve {name:<13} batch {result['batch_size']:>3}  {result['act_steps']} ACT steps  "
            f"{result['seconds_per_batch'] * 1000:9.1f} ms/batch  {result['puzzles_per_second']:9.2f} puzzles/s  "
            f"({result['parameters'] / 1e6:.1f}M parameters, {result['device']}, {result['threads']} threads)")
