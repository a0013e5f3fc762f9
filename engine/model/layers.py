"""Transformer building blocks shared by the joint VAE and the latent denoiser.

Pre-norm encoder layers (GELU feed-forward, dropout) with rotary self-attention; optionally adaptive
LayerNorm (shift, scale and a zero-initialised gate from a conditioning vector, as DiT/CogVideoX
inject the diffusion timestep) and cross-attention to a memory (vision hand tokens).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.model.rope import Rotation, apply_rope, rope_rotation


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        q_angles: torch.Tensor | Rotation | None = None,
        k_angles: torch.Tensor | Rotation | None = None,
        key_padding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B,N,D) attends to `memory` (B,M,D) or to itself; angles rotate queries / keys (RoPE).

        `key_padding` (B,M) is True where a key must be ignored.
        """
        b, n, d = x.shape
        src = x if memory is None else memory
        if src.shape[1] == 1 and key_padding is None and not (self.training and self.dropout > 0):
            # One key: its softmax weight is exactly 1, so every query gets its value (the denoiser's
            # cross-attention to the vision null token when there is no video). Attention dropout
            # would drop that weight now and then, so training with dropout takes the full path.
            v = self.kv(src)[..., d:]
            return self.out(v).expand(b, n, d)
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(src).reshape(b, src.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        if q_angles is not None:
            q = apply_rope(q, q_angles)
        if k_angles is not None:
            k = apply_rope(k, k_angles)
        mask = None
        if key_padding is not None:
            mask = (~key_padding)[:, None, None, :]
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """One pre-norm transformer encoder layer, optionally with adaLN and cross-attention."""

    def __init__(
        self, dim: int, heads: int, ff: int, dropout: float, adaptive: bool = False, cross: bool = False
    ) -> None:
        super().__init__()
        self.adaptive = adaptive
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=not adaptive)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=not adaptive)
        self.mlp = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, dim))
        self.drop = nn.Dropout(dropout)
        self.cross: Attention | None = None
        if cross:
            self.norm_cross = nn.LayerNorm(dim)
            self.cross = Attention(dim, heads, dropout)
        if adaptive:
            # shift, scale, gate for attention and for the MLP; zero init = identity block at start.
            self.modulation = nn.Linear(dim, 6 * dim)
            nn.init.zeros_(self.modulation.weight)
            nn.init.zeros_(self.modulation.bias)

    def forward(
        self,
        x: torch.Tensor,
        angles: torch.Tensor | Rotation | None = None,
        key_padding: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_angles: torch.Tensor | Rotation | None = None,
        memory_padding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.adaptive:
            if cond is None:
                raise ValueError("an adaptive block needs its conditioning vector")
            s1, c1, g1, s2, c2, g2 = self.modulation(cond)[:, None].chunk(6, dim=-1)
            h = self.norm1(x) * (1 + c1) + s1
            x = x + g1 * self.drop(self.attn(h, q_angles=angles, k_angles=angles, key_padding=key_padding))
        else:
            h = self.norm1(x)
            x = x + self.drop(self.attn(h, q_angles=angles, k_angles=angles, key_padding=key_padding))
        if self.cross is not None and memory is not None:
            h = self.norm_cross(x)
            x = x + self.drop(
                self.cross(h, memory, q_angles=angles, k_angles=memory_angles, key_padding=memory_padding)
            )
        if self.adaptive:
            h = self.norm2(x) * (1 + c2) + s2
            return x + g2 * self.drop(self.mlp(h))
        return x + self.drop(self.mlp(self.norm2(x)))


class Stack(nn.Module):
    """`layers` blocks with a final LayerNorm."""

    def __init__(
        self,
        layers: int,
        dim: int,
        heads: int,
        ff: int,
        dropout: float,
        adaptive: bool = False,
        cross: bool = False,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, ff, dropout, adaptive, cross) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor | None) -> torch.Tensor:
        for name in ("angles", "memory_angles"):
            if isinstance(kwargs.get(name), torch.Tensor):
                kwargs[name] = rope_rotation(kwargs[name])
        for block in self.blocks:
            x = block(x, **kwargs)
        return self.norm(x)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (B,) -> (B, dim) of diffusion timesteps."""
    half = dim // 2
    freqs = torch.exp(-torch.log(torch.tensor(max_period)) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
