"""Attention kernels: FlashAttention 3 or 2 on CUDA when installed, PyTorch SDPA everywhere else.

All backends take and return tensors laid out as FlashAttention does, [batch, seq, heads, head_dim], so the
model never needs to know which one runs. The choice is made once per model (`arch.attn_backend`):

    auto   flash3 if `flash_attn_interface` imports, else flash2 if `flash_attn` imports, else sdpa;
           at call time, inputs that FlashAttention cannot take (CPU/MPS tensors, float32) use sdpa
    flash3 / flash2 / sdpa   force one; forcing a flash backend that is not installed is an error

Nothing is imported at module import time: FlashAttention's import is slow and may print CUDA warnings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], torch.Tensor]

ATTN_BACKENDS = ("auto", "flash3", "flash2", "sdpa")


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    # q, k, v: [B, S, H, D] -> SDPA wants [B, H, S, D]; the result goes back to [B, S, H, D].
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
    return out.transpose(1, 2)


@functools.cache
def _flash_kernel(version: str) -> Callable | None:
    """The flash_attn_func of FlashAttention `version` ("flash3" or "flash2"), or None if not importable."""
    try:
        if version == "flash3":
            from flash_attn_interface import flash_attn_func  # type: ignore[import-not-found]
        else:
            from flash_attn import flash_attn_func  # type: ignore[import-not-found]
    except ImportError:
        return None
    return flash_attn_func


def _wrap_flash(kernel: Callable) -> AttentionFn:
    def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        # FlashAttention runs only on CUDA in half precision; everything else takes the SDPA path.
        if not q.is_cuda or q.dtype not in (torch.float16, torch.bfloat16):
            return sdpa_attention(q, k, v, causal)
        out = kernel(q, k, v, causal=causal)
        return out[0] if isinstance(out, tuple) else out  # FA3 returns (out, softmax_lse) in some versions

    return flash_attention


def resolve_attention(backend: str = "auto") -> tuple[str, AttentionFn]:
    """Returns (name of the backend in use, attention function)."""
    if backend not in ATTN_BACKENDS:
        raise ValueError(f"arch.attn_backend={backend!r} is not one of {', '.join(ATTN_BACKENDS)}")
    if backend == "sdpa":
        return "sdpa", sdpa_attention
    candidates = ("flash3", "flash2") if backend == "auto" else (backend,)
    for name in candidates:
        kernel = _flash_kernel(name)
        if kernel is not None:
            return name, _wrap_flash(kernel)
    if backend != "auto":
        package = "flash-attn-3 (flash_attn_interface)" if backend == "flash3" else "flash-attn"
        raise ValueError(
            f"arch.attn_backend={backend} but {package} is not installed; install it "
            f"(pip install 'hrm[gpu]') or use arch.attn_backend=auto"
        )
    return "sdpa", sdpa_attention
