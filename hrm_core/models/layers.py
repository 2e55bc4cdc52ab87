"""Layers shared by the HRM family: init, RMSNorm, cast linear/embedding layers, RoPE, attention, SwiGLU, and the
post-norm reasoning block and stack every architecture is built from.

Parameter names match the originals' (`qkv_proj`, `o_proj`, `gate_up_proj`, `down_proj`, `embedding_weight`),
so that state dicts load both ways. Shapes: B = batch, T = positions, H = heads, Dh = head dim, D = width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.models.attention import resolve_attention


def trunc_normal_(tensor: torch.Tensor, std: float = 1.0, lower: float = -2.0, upper: float = 2.0) -> torch.Tensor:
    """Truncated normal init whose *actual* standard deviation is `std` (JAX/Flax's default init).

    torch.nn.init.trunc_normal_ truncates a N(0, std) and so ends up with a smaller spread. Here we sample
    a standard normal truncated to [lower, upper] by inverse CDF and rescale it by std / (its true std).
    """
    with torch.no_grad():
        if std == 0:
            return tensor.zero_()
        cdf_lo, cdf_hi = (math.erf(x / math.sqrt(2)) for x in (lower, upper))
        mass = (cdf_hi - cdf_lo) / 2
        pdf_lo, pdf_hi = (math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) for x in (lower, upper))
        variance = 1 - (upper * pdf_hi - lower * pdf_lo) / mass - ((pdf_hi - pdf_lo) / mass) ** 2
        scale = std / math.sqrt(variance)
        tensor.uniform_(cdf_lo, cdf_hi).erfinv_().mul_(math.sqrt(2) * scale)
        return tensor.clamp_(lower * scale, upper * scale)


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Weightless RMSNorm, computed in float32 whatever the activations' dtype."""
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)
    return x.to(dtype)


class CastedLinear(nn.Module):
    """Linear layer whose float32 master weights are cast to the activations' dtype at use (LeCun init)."""

    def __init__(self, in_features: int, out_features: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(out_features, in_features), std=in_features**-0.5))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float, cast_to: torch.dtype):
        super().__init__()
        self.cast_to = cast_to
        self.embedding_weight = nn.Parameter(trunc_normal_(torch.empty(num_embeddings, embedding_dim), std=init_std))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.embedding_weight.to(self.cast_to))


class RotaryEmbedding(nn.Module):
    """RoPE tables for T positions. The halves layout (not interleaved) matches rotate_half below."""

    def __init__(self, head_dim: int, max_positions: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))  # [Dh/2]
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)  # [T, Dh/2]
        angles = torch.cat((angles, angles), dim=-1)  # [T, Dh]
        self.cos_cached = nn.Buffer(angles.cos(), persistent=False)
        self.sin_cached = nn.Buffer(angles.sin(), persistent=False)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos_cached, self.sin_cached


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rope(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    # q, k: [B, T, H, Dh]; cos, sin: [T, Dh] in float32, broadcast over heads. Rotate in float32.
    dtype = q.dtype
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
    q, k = q.to(cos.dtype), k.to(cos.dtype)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    return q.to(dtype), k.to(dtype)


class Attention(nn.Module):
    """Bidirectional multi-head self-attention, no bias, fused QKV projection.

    Head dim Dh = D // H, as in the originals: when H does not divide D the heads span H * Dh < D channels
    (the TRM repository's transformer baseline runs 12 heads on 512 channels that way).
    """

    def __init__(self, hidden_size: int, num_heads: int, attn_backend: str):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = CastedLinear(hidden_size, 3 * num_heads * self.head_dim, bias=False)
        self.o_proj = CastedLinear(num_heads * self.head_dim, hidden_size, bias=False)
        self.backend, self.attend = resolve_attention(attn_backend)

    def forward(self, x: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        B, T, _ = x.shape
        qkv = self.qkv_proj(x).view(B, T, 3 * self.num_heads, self.head_dim)  # [B, T, 3H, Dh]
        q, k, v = qkv.split(self.num_heads, dim=2)  # each [B, T, H, Dh]
        if cos_sin is not None:
            q, k = apply_rope(q, k, *cos_sin)
        out = self.attend(q, k, v, False)  # [B, T, H, Dh]
        return self.o_proj(out.reshape(B, T, self.num_heads * self.head_dim))


class SwiGLU(nn.Module):
    def __init__(self, hidden_size: int, expansion: float):
        super().__init__()
        # 2/3 keeps the parameter count of a 4x GELU MLP; rounding up to 256 keeps matmuls tile-friendly.
        inter = round(expansion * hidden_size * 2 / 3)
        inter = -(-inter // 256) * 256
        self.gate_up_proj = CastedLinear(hidden_size, 2 * inter, bias=False)
        self.down_proj = CastedLinear(inter, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class ReasoningBlock(nn.Module):
    """Post-norm block: mix across positions, then a SwiGLU across channels, each as x = norm(x + f(x)).

    Positions are mixed by self-attention, or, with `mlp_t_width` (TRM's `mlp_t`), by a SwiGLU applied along
    the position axis: the state is transposed to [B, D, T], so that MLP's width is T and the norm after it
    runs over positions too (as the original computes it).
    """

    def __init__(self, hidden_size: int, num_heads: int, expansion: float, eps: float, attn_backend: str,
                 mlp_t_width: int | None = None):
        super().__init__()
        if mlp_t_width is not None:
            self.mlp_t = SwiGLU(mlp_t_width, expansion)
        else:
            self.self_attn = Attention(hidden_size, num_heads, attn_backend)
        self.mlp = SwiGLU(hidden_size, expansion)
        self.mixes_with_mlp = mlp_t_width is not None
        self.eps = eps

    def forward(self, x: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        if self.mixes_with_mlp:
            x = x.transpose(1, 2)  # [B, D, T]
            x = rms_norm(x + self.mlp_t(x), self.eps)
            x = x.transpose(1, 2)  # [B, T, D]
        else:
            x = rms_norm(x + self.self_attn(x, cos_sin), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)


class ReasoningModule(nn.Module):
    """A stack of blocks applied to a latent state, after adding an input injection when one is given."""

    def __init__(self, blocks: list[ReasoningBlock]):
        super().__init__()
        self.layers = nn.ModuleList(blocks)

    def forward(self, state: torch.Tensor, injection: torch.Tensor | None, cos_sin) -> torch.Tensor:
        x = state if injection is None else state + injection  # [B, T, D]
        for layer in self.layers:
            x = layer(x, cos_sin)
        return x


def reasoning_module(config, num_layers: int) -> ReasoningModule:
    """`num_layers` blocks shaped by an architecture's config (an hrm_core.models.act.ACTConfig)."""
    return ReasoningModule([
        ReasoningBlock(config.hidden_size, config.num_heads, config.expansion, config.rms_norm_eps,
                       config.attn_backend, config.mlp_t_width)
        for _ in range(num_layers)
    ])
