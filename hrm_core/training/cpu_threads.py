"""How many threads a CPU run computes with: one, unless OMP_NUM_THREADS says otherwise.

PyTorch's default is one intra-op thread per core. The thread count decides how reductions are split, so
the same run gives different numbers with 1 and with 2 threads: the demo's losses agree to the last bit up
to step 5 and differ in the 8th digit by step 10, and training amplifies that into a different end point
(its whole-board accuracy is not reproducible across machines with different core counts). On a shared
machine the extra threads also spin against the other jobs (README, "Set up"). So on CPU the trainer
computes with one thread unless the user sets OMP_NUM_THREADS, as torchrun already does for each process:
a run's numbers then do not depend on the core count. CUDA and MPS runs are left as they are.
"""

from __future__ import annotations

import os

import torch

OMP_THREADS_ENV = "OMP_NUM_THREADS"
DEFAULT_CPU_THREADS = 1


def pin_cpu_threads(device: torch.device) -> int | None:
    """Sets the CPU run's intra-op thread count; returns it (None for a GPU run)."""
    if device.type != "cpu":
        return None
    if not os.environ.get(OMP_THREADS_ENV, "").strip():  # a set value is honoured by torch itself
        torch.set_num_threads(DEFAULT_CPU_THREADS)
    return torch.get_num_threads()
