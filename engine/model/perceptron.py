"""Hand perceptron (paper 3.3, A.3): one hand token per frame from the frozen backbone's dense tokens.

Queries per frame: `hand_tokens` learnable hand tokens plus the initial-pose token (an embedding of
the target hand's 2D keypoints in the first frame where it is seen; it tells the queries which
hand to look at when several are in the picture). Keys and values: the dense vision tokens of that
frame and of `context` frames either side. Positions use 3D RoPE: the head channels are split
into time / height / width parts (`engine.model.rope.rope_angles_3d`); queries sit at the centre
of the grid of their own frame, so attention sees where a token is relative to the picture's
centre and how far away in time it is. Each layer: cross-attention to the vision tokens,
self-attention among the frame's queries, a feed-forward block. The hand tokens are averaged
into the frame's token for the denoiser's cross-attention.

Ablations (paper Table 4), chosen by `VisionConfig`: `rope="1d"` numbers the key tokens in one
flattened sequence (time-major, then rows, then columns) and uses ordinary 1D RoPE on that index;
`pooling="average"` replaces the perceptron with the mean of each frame's tokens.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.model.checkpoint import CheckpointError, load_checkpoint, load_state_strict
from engine.model.config import check_keys
from engine.model.layers import Attention
from engine.model.rope import apply_rope, rope_angles, rope_angles_3d, rope_rotation

if TYPE_CHECKING:
    from engine.model.unihand import UniHand

VISION_FORMAT = "unihand.vision/1"


@dataclass(frozen=True)
class VisionConfig:
    """The vision path's sizes; saved in the vision checkpoint and checked on load."""

    layer: str = "stage5"  # backbone token layer (engine/model/backbone.py)
    token_channels: int = 112  # C of that layer
    width: int = 256  # frames are resized to this size for the backbone (16:9 pictures: exact)
    height: int = 144
    dim: int = 64  # sized for CPU training: see the model card
    heads: int = 2
    layers: int = 2
    ff: int = 128
    hand_tokens: int = 4
    context: int = 1  # frames either side of a frame whose tokens its queries see
    rope: str = "3d"  # "3d" | "1d" (ablation)
    pooling: str = "perceptron"  # "perceptron" | "average" (ablation)
    vision_dim: int = 128  # = ModelConfig.vision_dim

    def __post_init__(self) -> None:
        if self.rope not in ("3d", "1d"):
            raise ValueError(f"rope must be '3d' or '1d', got {self.rope!r}")
        if self.pooling not in ("perceptron", "average"):
            raise ValueError(f"pooling must be 'perceptron' or 'average', got {self.pooling!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by {self.heads} heads")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VisionConfig:
        check_keys(cls, values, "vision config")
        return cls(**values)


class _Layer(nn.Module):
    """Cross-attention of each frame's queries to its frames' tokens, self-attention, feed-forward.

    Keys and values are projected once per frame and then gathered for the neighbouring frames
    (projecting the gathered copies would cost 2c + 1 times as much).
    """

    def __init__(self, dim: int, heads: int, ff: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, heads, 0.0)
        self.norm_ff = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Linear(ff, dim))

    def forward(self, q, x, index, q_rot, k_rot, allowed):
        """q (BT,Q,d); x (B,T+2c,HW,d) padded frame tokens; index (T,2c+1) frames per query frame;
        q_rot: rotations (BT-broadcastable (T,1,1,hd/2)); k_rot: (T+2c,1,HW,hd/2) per padded frame."""
        bt, nq, d = q.shape
        b, tp, hw, _ = x.shape
        t, n = index.shape
        h = self.heads
        k, v = self.kv(self.norm_kv(x)).chunk(2, dim=-1)
        k = apply_rope(k.reshape(b, tp, hw, h, d // h).transpose(2, 3), k_rot)  # (B,T',h,HW,hd)
        k = k[:, index].permute(0, 1, 3, 2, 4, 5).reshape(bt, h, n * hw, d // h)
        v = v.reshape(b, tp, hw, h, d // h)[:, index].permute(0, 1, 4, 2, 3, 5).reshape(bt, h, n * hw, d // h)
        query = self.q(self.norm_q(q)).reshape(b, t, nq, h, d // h).permute(0, 1, 3, 2, 4)
        query = apply_rope(query, q_rot).reshape(bt, h, nq, d // h)
        y = F.scaled_dot_product_attention(query, k, v, attn_mask=allowed)
        q = q + self.proj(y.transpose(1, 2).reshape(bt, nq, d))
        q = q + self.self_attn(self.norm_self(q))
        return q + self.mlp(self.norm_ff(q))


class HandPerceptron(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.token_in = nn.Sequential(nn.Linear(config.token_channels, d), nn.LayerNorm(d))
        self.out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, config.vision_dim))
        if config.pooling == "average":
            return
        self.hand_queries = nn.Parameter(torch.randn(config.hand_tokens, d) * 0.02)
        # Initial pose: 21 normalised 2D keypoints and their mask -> one query token.
        self.init_in = nn.Sequential(nn.Linear(21 * 3, d), nn.GELU(), nn.Linear(d, d))
        self.no_init = nn.Parameter(torch.randn(d) * 0.02)
        self.layers = nn.ModuleList(_Layer(d, config.heads, config.ff) for _ in range(config.layers))

    def _angles(self, t: int, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE angles of the queries (T, hd/2) and of the frame tokens (T, H*W, hd/2).

        Absolute positions: RoPE makes the attention depend only on their differences, and keys can
        be rotated once per frame before they are gathered for the neighbouring frames' queries.
        """
        head_dim = self.config.dim // self.config.heads
        tt, hh, ww = torch.meshgrid(
            torch.arange(t, device=device),
            torch.arange(h, device=device),
            torch.arange(w, device=device),
            indexing="ij",
        )
        qt = torch.arange(t, device=device)
        qh, qw = torch.full((t,), (h - 1) / 2, device=device), torch.full((t,), (w - 1) / 2, device=device)
        if self.config.rope == "3d":
            keys = rope_angles_3d(tt, hh, ww, head_dim)
            query = rope_angles_3d(qt, qh, qw, head_dim)
        else:
            keys = rope_angles(tt * h * w + hh * w + ww, head_dim)
            query = rope_angles(qt * h * w + qh * w + qw, head_dim)
        return query, keys.reshape(t, h * w, -1)

    def forward(
        self,
        tokens: torch.Tensor,
        init_kp2d: torch.Tensor | None = None,
        init_mask: torch.Tensor | None = None,
        frame_valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """tokens (B,T,H',W',C); init_kp2d (B,21,2) normalised 2D keypoints, init_mask (B,21) bool
        (None or all false: no initial pose); frame_valid (B,T) -> hand tokens (B,T,vision_dim)."""
        b, t, h, w, _ = tokens.shape
        x = self.token_in(tokens.float())
        if self.config.pooling == "average":
            return self.out(x.mean(dim=(2, 3)))
        d, c = self.config.dim, self.config.context
        valid = torch.ones(b, t, dtype=torch.bool, device=x.device) if frame_valid is None else frame_valid
        # Each frame's keys: its own tokens and those of `c` frames either side (padding beyond the ends).
        padded = F.pad(x, (0, 0, 0, 0, 0, 0, c, c)).reshape(b, t + 2 * c, h * w, d)
        pad_valid = F.pad(valid, (c, c), value=False)
        index = torch.arange(t, device=x.device)[:, None] + torch.arange(2 * c + 1, device=x.device)[None]
        seen = pad_valid[:, index]
        seen[..., c] = True  # a frame always sees its own tokens (no all-masked rows)
        allowed = (
            seen.reshape(b * t, 1, 1, 2 * c + 1, 1).expand(-1, -1, -1, -1, h * w).reshape(b * t, 1, 1, -1)
        )
        if init_kp2d is None:
            init = self.no_init.expand(b, d)
        else:
            mask = init_mask if init_mask is not None else torch.ones(init_kp2d.shape[:2], dtype=torch.bool)
            mask = mask.to(x.device)
            feats = torch.cat(
                [torch.where(mask[..., None], init_kp2d.float(), 0.0), mask[..., None].float()], -1
            )
            init = torch.where(mask.any(-1, keepdim=True), self.init_in(feats.reshape(b, -1)), self.no_init)
        queries = torch.cat([self.hand_queries.expand(b, -1, -1), init[:, None]], dim=1)  # (B,Q,d)
        q = queries[:, None].expand(b, t, -1, -1).reshape(b * t, -1, d)
        q_angles, k_angles = self._angles(t + 2 * c, h, w, x.device)
        # Query of frame t sits at time t + c of the padded sequence: (T,1,1,hd/2) for (B,T,h,Q,hd).
        q_rot = rope_rotation(q_angles[c : c + t, None, None])
        k_rot = rope_rotation(k_angles[:, None])  # (T',1,HW,hd/2) for (B,T',h,HW,hd)
        for layer in self.layers:
            q = layer(q, padded, index, q_rot, k_rot, allowed)
        hand = q[:, : self.config.hand_tokens].mean(dim=1).reshape(b, t, d)
        return self.out(hand)


def load_vision(path: str | os.PathLike[str], model: UniHand) -> HandPerceptron:
    """Load a vision checkpoint (`main.py train vision`) into `model` and return its perceptron.

    The checkpoint holds the perceptron and the denoiser fine-tuned with it; its model config must
    be `model`'s (the same joint VAE), else a CheckpointError says what differs.
    """
    _, state, info = load_checkpoint(path, "vision", expect_config=model.config)
    if info.get("vision_format") != VISION_FORMAT or "vision_config" not in info:
        raise CheckpointError(
            f"{path}: vision format {info.get('vision_format')!r}, this version reads {VISION_FORMAT!r}"
        )
    try:
        config = VisionConfig.from_dict(info["vision_config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad vision config ({exc})") from exc
    parts: dict[str, dict[str, torch.Tensor]] = {"perceptron": {}, "denoiser": {}, "pose_head": {}}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head not in parts:
            raise CheckpointError(f"{path}: unexpected weight {key!r}")
        parts[head][rest] = value
    stats = {
        k: parts["denoiser"].pop(k, None) for k in ("frame_mean", "frame_std", "global_mean", "global_std")
    }
    if any(v is None for v in stats.values()):
        raise CheckpointError(f"{path}: latent statistics missing")
    perceptron = HandPerceptron(config)
    load_state_strict(perceptron, parts["perceptron"], path)
    load_state_strict(model.denoiser, parts["denoiser"], path)
    for k, v in stats.items():
        getattr(model, k).copy_(v)
    return perceptron.eval()
