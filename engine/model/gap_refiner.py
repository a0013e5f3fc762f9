"""Learned gap refiner: a correction of the Gaussian-process gap prior learned from real captures.

The prior of `engine/editing/gap_prior.py` fills each keypoint's gap with a posterior mean that is
linear in the known frames and blind to what hands do. This network reads a 120-frame window of
keypoints in which the unknown entries hold that prior's fill (with per-joint masks and the
distance of each entry to its nearest observation) and predicts a correction for the unknown
entries only; known entries are never changed. It is our addition, not part of the paper's model:
the paper's denoiser, trained on two CPU cores, is far from the prior over gaps (model card), and
this is the part of the model that learns from data how hands move through them.

Inputs are made translation-invariant (positions relative to the window's mean observed keypoint)
and scaled to order one. The network is a small pre-norm transformer over frames with learned
positions; windows shorter than `window` frames are padded and masked. At inference
(`GapRefiner.fill`) every run of incomplete frames of at most `max_gap` frames gets a window
centred on it; longer runs keep the prior alone.

Times are frames of the model's 30 fps timeline (refine works there); positions are metres.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.model.checkpoint import CheckpointError, load_checkpoint, load_state_strict
from engine.model.config import check_keys

GAP_FORMAT = "unihand.gap/1"


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
        seen = (mask & valid[..., None]).float()  # (B,T,21)
        centre = (filled * seen[..., None]).sum(dim=(1, 2)) / seen.sum(dim=(1, 2)).clamp_min(1.0)[:, None]
        relative = (filled - centre[:, None, None]) / c.position_scale
        local = (filled - filled[:, :, :1]) / c.local_scale
        distance = observation_distance(mask, valid) / c.distance_scale
        x = torch.cat(
            [relative.reshape(b, t, 63), local.reshape(b, t, 63), seen, distance.clamp_max(4.0)], dim=-1
        )
        x = x * valid[..., None]
        h = self.inp(x) + self.positions[:t]
        h = self.encoder(h, src_key_padding_mask=~valid)
        correction = self.out(self.norm(h)).reshape(b, t, 21, 3) * c.position_scale
        unknown = (~mask & valid[..., None]).float()[..., None]
        return correction * unknown

    @torch.no_grad()
    def fill(self, kp3d: np.ndarray, mask: np.ndarray, frames: np.ndarray) -> np.ndarray | None:
        """`gap_prior.keypoint_fill` corrected by the network: (T,21,3) keypoints (unknown entries are
        ignored), (T,21) observed, frames -> (F,21,3) at `frames`; None when a joint is observed on
        fewer than two frames. Runs of incomplete frames longer than `max_gap` keep the prior."""
        from engine.editing.gap_prior import keypoint_fill

        mask = np.asarray(mask, dtype=bool)
        frames = np.asarray(frames, dtype=int)
        t = len(mask)
        incomplete = np.flatnonzero(~mask.all(axis=1))
        need = np.union1d(incomplete, frames)
        prior = keypoint_fill(kp3d, mask, need)
        if prior is None:
            return None
        filled = np.where(mask[..., None], np.nan_to_num(np.asarray(kp3d, dtype=np.float64)), 0.0)
        filled[need] = np.where(mask[need][..., None], filled[need], prior)
        corrected = filled.copy()
        c = self.config
        starts, stops = _runs(np.isin(np.arange(t), incomplete))
        windows: list[tuple[int, int, int, int]] = []  # (window start, window length, run start, run stop)
        for s, e in zip(starts, stops, strict=True):
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
            out = self(
                torch.from_numpy(batch).to(device),
                torch.from_numpy(seen).to(device),
                torch.from_numpy(valid).to(device),
            )
            self.train(was_training)
            out = out.double().cpu().numpy()
            for i, (w0, _, s, e) in enumerate(windows):
                corrected[s:e] += out[i, s - w0 : e - w0]
        return corrected[frames]


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and stops (exclusive) of the runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def save_gap_refiner(path: str | os.PathLike[str], refiner: GapRefiner, info: dict[str, Any]) -> None:
    from engine.model.checkpoint import save_checkpoint

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
