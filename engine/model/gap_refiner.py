"""Learned gap refiner: a correction of the Gaussian-process gap prior learned from real captures.

The prior of `engine/editing/gap_prior.py` fills each keypoint's gap with a posterior mean that is
linear in the known frames and blind to what hands do. This network reads a 120-frame window of
keypoints in which the unknown entries hold that prior's fill (with per-joint masks and the
distance of each entry to its nearest observation) and predicts a correction for the unknown
entries only; known entries are never changed. It is our addition, not part of the paper's model:
the paper's denoiser, trained on two CPU cores, is far from the prior over gaps (model card), and
this is the part of the model that learns from data how hands move through them.

Inputs are made invariant to where the hand is and how the camera is turned: positions relative to
the window's mean observed keypoint, in the window's mean hand frame (`hand_frames`), scaled to
order one; the correction is turned back. The network is a small pre-norm transformer over frames
with learned positions; windows shorter than `window` frames are padded and masked. At inference
(`GapRefiner.fill`) every run of incomplete frames of `MIN_RUN` to `max_gap` frames gets a window
centred on it; shorter and longer runs keep the prior alone.

Times are frames of the model's 30 fps timeline (refine works there); positions are metres.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.data.loaders import valid_runs
from engine.model.checkpoint import CheckpointError, load_checkpoint, load_state_strict, save_checkpoint
from engine.model.config import check_keys

GAP_FORMAT = "unihand.gap/1"
MIN_RUN = 5  # frames: the shortest holes it was trained on; shorter dropouts keep the prior
CHUNK = 32  # windows per forward pass (its attention needs T x T x 21 values per window)


@dataclass(frozen=True)
class GapRefinerConfig:
    """The refiner's sizes and input scales; saved in its checkpoint and checked on load."""

    window: int = 120  # frames the network reads (30 fps)
    dim: int = 128
    heads: int = 4
    ff: int = 256
    layers: int = 4
    dropout: float = 0.1
    max_gap: int = 90  # longest run of incomplete frames it was trained on (longer: the prior alone)
    position_scale: float = 0.1  # metres: positions relative to the window's centre
    local_scale: float = 0.03  # metres: joints relative to the frame's wrist
    distance_scale: float = 30.0  # frames: distance to the nearest observation

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})")
        if not 0 < self.max_gap < self.window - 1:
            raise ValueError(f"max_gap must lie in (0, window - 1), got {self.max_gap}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GapRefinerConfig:
        check_keys(cls, values, "gap refiner config")
        return cls(**values)


def observation_distance(mask: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B,T,J) bool observed, (B,T) bool valid -> (B,T,J) frames to the nearest observed frame of
    the same joint (0 where observed; T where the joint is never observed)."""
    t = mask.shape[1]
    times = torch.arange(t, dtype=torch.float32, device=mask.device)
    lag = (times[:, None] - times[None, :]).abs()  # (T,T)
    seen = mask & valid[..., None]  # (B,T,J)
    big = torch.full((), float(t), device=mask.device)
    # (B,T_query,T_known,J) -> min over known frames
    dist = torch.where(seen[:, None, :, :], lag[None, :, :, None], big).amin(dim=2)
    return dist


def hand_frames(filled: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """(B,T,21,3) keypoints, (B,T,21) observed -> (B,3,3) rotations whose rows are the window's mean
    hand axes: x from the pinky to the index knuckle, y from the wrist to the middle knuckle (made
    orthogonal to x), z their cross product; the identity where those joints are never all seen."""
    both = seen[..., [0, 5, 9, 17]].all(dim=-1).float()[..., None]  # (B,T,1)
    across = ((filled[:, :, 5] - filled[:, :, 17]) * both).sum(1)
    along = ((filled[:, :, 9] - filled[:, :, 0]) * both).sum(1)
    x = across / torch.linalg.norm(across, dim=-1, keepdim=True).clamp_min(1e-9)
    y = along - (along * x).sum(-1, keepdim=True) * x
    y = y / torch.linalg.norm(y, dim=-1, keepdim=True).clamp_min(1e-9)
    frames = torch.stack([x, y, torch.cross(x, y, dim=-1)], dim=1)
    ok = (both.sum(1) > 0) & (torch.linalg.norm(across, dim=-1, keepdim=True) > 1e-6)
    eye = torch.eye(3, device=filled.device, dtype=filled.dtype).expand_as(frames)
    return torch.where(ok[..., None], frames, eye)


class GapRefiner(nn.Module):
    """(filled (B,T,21,3) metres, mask (B,T,21) observed, valid (B,T)) -> correction (B,T,21,3),
    zero on observed entries and padding."""

    def __init__(self, config: GapRefinerConfig | None = None) -> None:
        super().__init__()
        self.config = config or GapRefinerConfig()
        c = self.config
        self.inp = nn.Linear(63 + 63 + 21 + 21, c.dim)
        self.positions = nn.Parameter(torch.randn(c.window, c.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            c.dim, c.heads, c.ff, dropout=c.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.dim)
        self.out = nn.Linear(c.dim, 63)
        nn.init.zeros_(self.out.weight)  # starts as the prior itself
        nn.init.zeros_(self.out.bias)

    def forward(self, filled: torch.Tensor, mask: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        c = self.config
        b, t = filled.shape[:2]
        observed = mask & valid[..., None]  # (B,T,21)
        seen = observed.float()
        centre = (filled * seen[..., None]).sum(dim=(1, 2)) / seen.sum(dim=(1, 2)).clamp_min(1.0)[:, None]
        # In the window's own hand frame: the same motion seen from any camera gives the same input.
        rot = hand_frames(filled, observed)
        turned = torch.einsum("bij,btkj->btki", rot, filled - centre[:, None, None])
        relative = turned / c.position_scale
        local = (turned - turned[:, :, :1]) / c.local_scale
        distance = observation_distance(mask, valid) / c.distance_scale
        x = torch.cat(
            [relative.reshape(b, t, 63), local.reshape(b, t, 63), seen, distance.clamp_max(4.0)], dim=-1
        )
        x = x * valid[..., None]
        h = self.inp(x) + self.positions[:t]
        h = self.encoder(h, src_key_padding_mask=~valid)
        correction = self.out(self.norm(h)).reshape(b, t, 21, 3) * c.position_scale
        correction = torch.einsum("bji,btkj->btki", rot, correction)  # back to the input's axes
        unknown = (~mask & valid[..., None]).float()[..., None]
        return correction * unknown

    @torch.no_grad()
    def fill(self, kp3d: np.ndarray, mask: np.ndarray, frames: np.ndarray) -> np.ndarray | None:
        """`gap_prior.keypoint_fill` corrected by the network: (T,21,3) keypoints (unknown entries are
        ignored), (T,21) observed, frames -> (F,21,3) at `frames`; None when a joint is observed on
        fewer than two frames. Runs of incomplete frames shorter than `MIN_RUN` or longer than
        `max_gap` keep the prior."""
        from engine.editing.gap_prior import keypoint_fill

        mask = np.asarray(mask, dtype=bool)
        frames = np.asarray(frames, dtype=int)
        t = len(mask)
        incomplete = ~mask.all(axis=1)
        need = np.union1d(np.flatnonzero(incomplete), frames)
        prior = keypoint_fill(kp3d, mask, need)
        if prior is None:
            return None
        filled = np.where(mask[..., None], np.nan_to_num(np.asarray(kp3d, dtype=np.float64)), 0.0)
        filled[need] = np.where(mask[need][..., None], filled[need], prior)
        corrected = filled.copy()
        c = self.config
        windows: list[tuple[int, int, int, int]] = []  # (window start, window length, run start, run stop)
        for s, e in valid_runs(incomplete, MIN_RUN):
            if e - s > c.max_gap or s == 0 or e == t:  # too long, or not bounded on both sides
                continue
            length = min(t, c.window)
            w0 = int(np.clip((s + e) // 2 - length // 2, 0, t - length))
            windows.append((w0, length, s, e))
        if windows:
            device = next(self.parameters()).device
            batch = np.zeros((len(windows), c.window, 21, 3), dtype=np.float32)
            seen = np.zeros((len(windows), c.window, 21), dtype=bool)
            valid = np.zeros((len(windows), c.window), dtype=bool)
            for i, (w0, length, _, _) in enumerate(windows):
                batch[i, :length] = filled[w0 : w0 + length]
                seen[i, :length] = mask[w0 : w0 + length]
                valid[i, :length] = True
            was_training = self.training
            self.eval()
            out = np.concatenate(
                [
                    self(
                        torch.from_numpy(batch[i : i + CHUNK]).to(device),
                        torch.from_numpy(seen[i : i + CHUNK]).to(device),
                        torch.from_numpy(valid[i : i + CHUNK]).to(device),
                    )
                    .double()
                    .cpu()
                    .numpy()
                    for i in range(0, len(windows), CHUNK)
                ]
            )
            self.train(was_training)
            for i, (w0, _, s, e) in enumerate(windows):
                corrected[s:e] += out[i, s - w0 : e - w0]
        return corrected[frames]


def save_gap_refiner(path: str | os.PathLike[str], refiner: GapRefiner, info: dict[str, Any]) -> None:
    info = {**info, "gap_format": GAP_FORMAT}
    save_checkpoint(path, "gap", refiner.config, refiner.state_dict(), info)


def load_gap_refiner(path: str | os.PathLike[str]) -> GapRefiner:
    """A gap refiner checkpoint (`main.py train gap`); a CheckpointError says what is wrong."""
    config, state, info = load_checkpoint(path, "gap", config_class=GapRefinerConfig)
    if info.get("gap_format") != GAP_FORMAT:
        raise CheckpointError(
            f"{path}: gap refiner format {info.get('gap_format')!r}, this version reads {GAP_FORMAT!r}"
        )
    refiner = GapRefiner(config)
    load_state_strict(refiner, state, path)
    return refiner.eval()
