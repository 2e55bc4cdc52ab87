"""Process-group setup: which device this process uses and how it talks to the others.

Under torchrun (LOCAL_RANK set) every process joins a process group: NCCL on CUDA, gloo on CPU. A second,
gloo-backed group carries the small control messages (stop requested? non-finite loss?) so that they never
force a GPU synchronisation. MPS runs single-process (PyTorch has no MPS collective backend).
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    control_group: Any = None  # gloo group for CPU-side flags; None when single-process

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def device_names(self) -> list[str]:
        """This process's device, e.g. "cuda:0 NVIDIA H100 80GB HBM3" or "cpu" (rank 0 gathers them)."""
        if self.device.type == "cuda":
            return [f"cuda:{self.device.index} {torch.cuda.get_device_name(self.device)}"]
        return [self.device.type]


def pick_device(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if torch.backends.mps.is_available() and torch.backends.mps.is_built():
        return torch.device("mps")
    return torch.device("cpu")


def init_distributed() -> DistContext:
    """Joins the torchrun process group when launched by torchrun, otherwise runs single-process."""
    if "LOCAL_RANK" not in os.environ:
        return DistContext(rank=0, world_size=1, local_rank=0, device=pick_device(0))

    local_rank = int(os.environ["LOCAL_RANK"])
    device = pick_device(local_rank)
    if device.type == "mps":
        raise RuntimeError("multi-process training needs CUDA (NCCL) or CPU (gloo); PyTorch has no MPS backend: run without torchrun")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)
    else:
        dist.init_process_group(backend="gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    # Long evaluations and checkpoint writes happen between collectives: be generous before declaring a hang.
    control = dist.new_group(backend="gloo", timeout=timedelta(hours=2)) if device.type == "cuda" else dist.group.WORLD
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device, control_group=control)


def shutdown_distributed(ctx: DistContext) -> None:
    """Destroys the process groups and drops every reference to them.

    A process group that survives until interpreter shutdown (e.g. referenced by `ctx.control_group`) is
    torn down while Python is finalising, and gloo's worker threads can then abort the process
    ("terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    ctx.control_group = None
    gc.collect()


def broadcast_object(ctx: DistContext, obj: Any) -> Any:
    """Rank 0's `obj` on every rank."""
    if not ctx.distributed:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0, group=ctx.control_group)
    return holder[0]


def gather_objects(ctx: DistContext, obj: Any) -> list[Any] | None:
    """Every rank's `obj`, on rank 0 (None elsewhere)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0, group=ctx.control_group)
    return out


def any_rank(ctx: DistContext, *flags: bool) -> list[bool]:
    """Element-wise OR of boolean flags over all ranks (a tiny CPU all_reduce on the control group)."""
    if not ctx.distributed:
        return list(flags)
    values = torch.tensor([int(f) for f in flags], dtype=torch.int32)
    dist.all_reduce(values, op=dist.ReduceOp.MAX, group=ctx.control_group)
    return [bool(v) for v in values.tolist()]


def first_error(ctx: DistContext, message: str | None) -> str | None:
    """Every rank's error message (None: no error) -> the first one, on every rank (a collective).

    Lets all ranks take the same decision about a failure that only some of them saw (a full disk while
    one rank writes its file), so they stop together instead of leaving the others waiting in a barrier.
    """
    if not ctx.distributed:
        return message
    messages: list[str | None] = [None] * ctx.world_size
    dist.all_gather_object(messages, message, group=ctx.control_group)
    return next((m for m in messages if m is not None), None)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier(group=ctx.control_group)
