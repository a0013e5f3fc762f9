"""DINOv2 ViT (the paper's backbone) from a local weights file: `VisionBackbone(layer="dinov2")`.

No DINOv2 weights are on PyPI and nothing is downloaded at run time (DESIGN.md section 5), so the
user points to a file they have: `UNIHAND_DINOV2=/path/dinov2_vits14_pretrain.pth` (or
`weights_path`). The network is written here with the parameter names of the official
checkpoints (facebookresearch/dinov2: `patch_embed.proj`, `cls_token`, `pos_embed`, optional
`register_tokens`, `blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2,
ls2.gamma}`, `norm`); the size (ViT-S/B/L, patch 14) and register count are read from the file.
ViT-g's SwiGLU feed-forward is not supported. Tokens: the final-normed patch tokens, stride 14.

Not verified against the official weights here (none can be obtained offline in this project);
tests check loading, shapes and clear errors with files built to the official layout. Position
embeddings are resized bicubically to the frame's patch grid (the official code adds a 0.1 offset
to the scale factor; the difference is below a tenth of a patch).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_ENV = "UNIHAND_DINOV2"
PATCH = 14
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class _LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, heads)
        self.ls1 = _LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, hidden)
        self.ls2 = _LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV2(nn.Module):
    """A DINOv2 ViT with patch 14 and the official parameter names."""

    def __init__(
        self, dim: int, depth: int, heads: int, hidden: int, positions: int, registers: int = 0
    ) -> None:
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + positions, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, registers, dim)) if registers else None
        self.blocks = nn.ModuleList(_Block(dim, heads, hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.dim = dim

    def _positions(self, h: int, w: int) -> torch.Tensor:
        grid = self.pos_embed[:, 1:]
        side = round(grid.shape[1] ** 0.5)
        if (side, side) == (h, w):
            return grid
        grid = grid.reshape(1, side, side, self.dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return grid.permute(0, 2, 3, 1).reshape(1, h * w, self.dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N,3,H,W) ImageNet-normalised images, sides multiples of 14 -> (N, D, H/14, W/14)."""
        n, _, height, width = x.shape
        h, w = height // PATCH, width // PATCH
        tokens = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(n, -1, -1) + self.pos_embed[:, :1]
        tokens = torch.cat([cls, tokens + self._positions(h, w)], dim=1)
        extra = 1
        if self.register_tokens is not None:
            tokens = torch.cat([tokens[:, :1], self.register_tokens.expand(n, -1, -1), tokens[:, 1:]], dim=1)
            extra += self.register_tokens.shape[1]
        for block in self.blocks:
            tokens = block(tokens)
        patches = self.norm(tokens)[:, extra:]
        return patches.transpose(1, 2).reshape(n, self.dim, h, w)


def dinov2_weights_path(weights_path: str | os.PathLike[str] | None = None) -> Path:
    from engine.model.backbone import BackboneError

    if weights_path is None:
        env = os.environ.get(WEIGHTS_ENV)
        if not env:
            raise BackboneError(
                f"DINOv2 needs a local weights file (e.g. dinov2_vits14_pretrain.pth): set {WEIGHTS_ENV} "
                "or pass weights_path; nothing is downloaded"
            )
        weights_path = env
    path = Path(weights_path)
    if not path.is_file():
        raise BackboneError(f"{path}: no such DINOv2 weights file")
    return path


def load_dinov2(weights_path: str | os.PathLike[str] | None = None) -> DinoV2:
    """The network of a local DINOv2 checkpoint, frozen, in eval mode; clear errors otherwise."""
    from engine.model.backbone import BackboneError

    path = dinov2_weights_path(weights_path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BackboneError(f"{path}: cannot read DINOv2 weights ({exc})") from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or "patch_embed.proj.weight" not in state or "pos_embed" not in state:
        raise BackboneError(f"{path}: not a DINOv2 checkpoint (no patch_embed.proj / pos_embed)")
    if any(".mlp.w12." in k for k in state):
        raise BackboneError(f"{path}: ViT-g (SwiGLU feed-forward) is not supported; use ViT-S/B/L")
    weight = state["patch_embed.proj.weight"]
    if tuple(weight.shape[1:]) != (3, PATCH, PATCH):
        raise BackboneError(f"{path}: patch size {tuple(weight.shape[2:])}, expected 14x14")
    dim = int(weight.shape[0])
    depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k)))
    hidden = int(state["blocks.0.mlp.fc1.weight"].shape[0])
    registers = int(state["register_tokens"].shape[1]) if "register_tokens" in state else 0
    model = DinoV2(dim, depth, max(1, dim // 64), hidden, int(state["pos_embed"].shape[1]) - 1, registers)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BackboneError(f"{path}: weights do not fit a DINOv2 ViT ({str(exc).splitlines()[0]})") from exc
    model.eval()
    model.requires_grad_(False)
    return model
