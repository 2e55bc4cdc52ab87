"""Optimizers of HRM, in plain PyTorch (no CUDA extension to build).

- `AdamATan2` for the dense weights: Adam whose update m / (sqrt(v) + eps) is replaced by
  atan2(m, sqrt(v)), which is bounded and needs no epsilon (arXiv 2407.05872).
- `SparseSignSGD` for the puzzle-embedding table: sign-SGD with decoupled weight decay on the rows a
  batch used. For a row seen once every many steps, Adam's normalised update is about the sign of the
  gradient anyway, and sign-SGD needs no per-row state.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch.optim import Optimizer


class AdamATan2(Optimizer):
    """Per element, at step t:

        p *= 1 - lr * weight_decay
        m  = lerp(m, g, 1 - beta1)
        v  = lerp(v, g * g, 1 - beta2)
        p -= lr / (1 - beta1**t) * atan2(m, sqrt(v) / sqrt(1 - beta2**t))

    The arithmetic runs as foreach (multi-tensor) ops, one kernel launch per op for all parameters.
    """

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Invalid betas: {betas}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if p.grad.is_sparse:
                    raise RuntimeError("AdamATan2 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            grads = [p.grad for p in params]
            exp_avgs = [self.state[p]["exp_avg"] for p in params]
            exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in params]
            steps = [self.state[p]["step"] for p in params]

            lr, weight_decay = float(group["lr"]), group["weight_decay"]
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, 1.0)
            t = steps[0].item()  # all parameters of a group step together; steps live on the CPU
            bias_correction1 = 1 - beta1**t
            bias_correction2_sqrt = (1 - beta2**t) ** 0.5

            if weight_decay != 0:
                torch._foreach_mul_(params, 1 - lr * weight_decay)
            torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
            torch._foreach_lerp_(exp_avg_sqs, torch._foreach_mul(grads, grads), 1 - beta2)

            denom = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_div_(denom, bias_correction2_sqrt)
            updates = [torch.atan2(m, d) for m, d in zip(exp_avgs, denom)]  # no foreach atan2 in PyTorch
            torch._foreach_add_(params, updates, alpha=-lr / bias_correction1)
        return loss


class SparseSignSGD(Optimizer):
    """Sign-SGD on the rows of a SparsePuzzleEmbedding that the last batch used.

    Takes the embedding's buffers (`puzzle_emb.buffers()`: the table `weights`, `local_weights` holding the
    gradient, and `local_ids`), like the original's CastedSparseEmbeddingSignSGD_Distributed. With
    world_size > 1 and torch.distributed initialised, every rank gathers all ranks' ids and gradients, so
    all ranks apply the same update to their copy of the table.
    """

    def __init__(self, params: Iterable[torch.Tensor], world_size: int = 1, lr: float = 1e-3, weight_decay: float = 1e-2):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay: {weight_decay}")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, world_size=world_size))

    @staticmethod
    def _split_buffers(tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        local_weights = next((t for t in tensors if t.requires_grad), None)
        local_ids = next((t for t in tensors if not t.requires_grad and t.ndim == 1), None)
        weights = next((t for t in tensors if not t.requires_grad and t.ndim == 2), None)
        if local_weights is None or local_ids is None or weights is None or len(tensors) != 3:
            raise ValueError("SparseSignSGD takes the three buffers of a SparsePuzzleEmbedding (puzzle_emb.buffers())")
        return local_weights, local_ids, weights

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            local_weights, local_ids, weights = self._split_buffers(group["params"])
            if local_weights.grad is None:
                continue
            sparse_sign_sgd_step(
                local_weights.grad, local_ids, weights,
                lr=float(group["lr"]), weight_decay=group["weight_decay"], world_size=group["world_size"],
            )
        return loss


def sparse_sign_sgd_step(
    local_grad: torch.Tensor, local_ids: torch.Tensor, weights: torch.Tensor,
    *, lr: float, weight_decay: float, world_size: int,
) -> None:
    """local_grad [N, D] and local_ids [N] of this rank; updates weights [num_puzzles, D] in place."""
    all_grad, all_ids = local_grad, local_ids
    if world_size > 1 and dist.is_available() and dist.is_initialized():
        # all_gather (not all_gather_into_tensor) so that gloo works too, for CPU multi-process runs.
        grads = [torch.empty_like(local_grad) for _ in range(world_size)]
        ids = [torch.empty_like(local_ids) for _ in range(world_size)]
        dist.all_gather(grads, local_grad.contiguous())
        dist.all_gather(ids, local_ids.contiguous())
        all_grad, all_ids = torch.cat(grads), torch.cat(ids)

    # A puzzle can appear several times in a batch: sum its gradients before taking the sign.
    unique_ids, inverse = all_ids.unique(return_inverse=True)
    grad = torch.zeros(unique_ids.shape[0], all_grad.shape[1], dtype=all_grad.dtype, device=all_grad.device)
    grad.index_add_(0, inverse, all_grad)

    rows = weights[unique_ids]
    rows.mul_(1.0 - lr * weight_decay).add_(torch.sign(grad), alpha=-lr)
    weights[unique_ids] = rows
