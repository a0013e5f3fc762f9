"""Rotary position encodings (Su et al.): 1D over time for motion tokens, 3D over (time, height, width)
for dense vision tokens (paper A.3: the channels are split into three parts, one per axis)."""

from __future__ import annotations

import torch


def rope_angles(positions: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """(..., N) positions -> (..., N, dim/2) rotation angles; `dim` must be even."""
    if dim % 2:
        raise ValueError(f"rope dimension must be even, got {dim}")
    freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) / dim)
    return positions.float()[..., None] * freqs


def rope_angles_3d(t: torch.Tensor, h: torch.Tensor, w: torch.Tensor, dim: int) -> torch.Tensor:
    """Angles for 3D RoPE: the `dim` channels are split into time / height / width parts.

    Time gets the remainder so every part stays even: for dim 32 -> 12 + 10 + 10.
    """
    part = (dim // 3) // 2 * 2
    time_dim = dim - 2 * part
    return torch.cat([rope_angles(t, time_dim), rope_angles(h, part), rope_angles(w, part)], dim=-1)


Rotation = tuple[torch.Tensor, torch.Tensor]


def rope_rotation(angles: torch.Tensor) -> Rotation:
    """(cos, sin) of `angles`: computed once per forward pass and shared by every layer."""
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, angles: torch.Tensor | Rotation) -> torch.Tensor:
    """Rotate channel pairs (2i, 2i+1) of `x` (..., N, dim) by `angles` (N, dim/2) or broadcastable,
    given as angles or as their `rope_rotation`."""
    x_pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    cos, sin = angles if isinstance(angles, tuple) else rope_rotation(angles)
    a, b = x_pairs[..., 0], x_pairs[..., 1]
    out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    return out.reshape(x.shape).to(x.dtype)
