"""The random draws of torch's DataLoader that the originals' numbers depend on, made without a DataLoader.

Both originals (HRM's and TRM's `pretrain.py`) load batches through `torch.utils.data.DataLoader(num_workers=1,
persistent_workers=True)`. That has two effects on their random numbers, which this project reproduces so
that a given seed gives the originals' numbers (docs/training.md, "Same numbers as the originals"):

1. Creating a DataLoader iterator draws one int64 from torch's default generator (its workers' base seed).
   The originals create the train iterator once, before the first step, and the eval iterator once, at the
   first evaluation; persistent workers are reused afterwards without a new draw. The draws move the stream
   that the model's ACT exploration samples from, so `draw_iterator_seed` is called at the same two points.
2. The loader worker seeds numpy's global generator from that base seed (`worker_numpy_seed`), and the
   originals' sampler picks the examples inside a puzzle with `np.random.choice`: the train loader's example
   order is a legacy `RandomState` seeded so, continuing across passes for the whole run.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF


def draw_iterator_seed() -> int:
    """The int64 a DataLoader iterator draws from torch's default generator when it is created."""
    return int(torch.empty((), dtype=torch.int64).random_().item())


def worker_numpy_seed(base_seed: int, worker_id: int = 0) -> list[int]:
    """The four uint32 words a DataLoader worker seeds numpy with (`np.random.seed(words)`).

    torch derives them from (worker_id, base_seed) with a small SeedSequence-like hash
    (torch/utils/data/_utils/worker.py, `_generate_state`); tests/test_worker_seed.py checks this against it.
    """
    entropy = [worker_id, base_seed & _MASK32, base_seed >> 32, 0]
    multiplier = 0x43B0D7E5

    def hashed(value: int) -> int:
        nonlocal multiplier
        value = (value ^ multiplier) & _MASK32
        multiplier = (multiplier * 0x931E8875) & _MASK32
        value = (value * multiplier) & _MASK32
        return (value ^ (value >> 16)) & _MASK32

    def mixed(x: int, y: int) -> int:
        result = ((0xCA01F9DD * x) & _MASK32) - ((0x4973F715 * y) & _MASK32)
        result &= _MASK32
        return (result ^ (result >> 16)) & _MASK32

    pool = [hashed(word) for word in entropy]
    for source in range(4):
        for target in range(4):
            if source != target:
                pool[target] = mixed(pool[target], hashed(pool[source]))

    state = []
    multiplier_b = 0x8B51F9DD
    for word in pool:
        value = (word ^ multiplier_b) & _MASK32
        multiplier_b = (multiplier_b * 0x58F38DED) & _MASK32
        value = (value * multiplier_b) & _MASK32
        state.append((value ^ (value >> 16)) & _MASK32)
    return state
