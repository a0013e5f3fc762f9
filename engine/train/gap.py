"""Training data and objective of the gap refiner (`python main.py train gap`, engine/model/gap_refiner.py).

Every item is a window of 3D keypoints from the shards (real captures by default: the refiner is
meant to learn how real hands move) with fresh random holes per (seed, epoch, index): one or two
gaps of whole frames (5 to `max_gap` frames, observed frames on both sides) and, in some windows,
spans in which a few joints are missing. The holes are filled by the Gaussian-process prior, as
at inference. Some windows are cropped shorter (padding), as short clips are at inference.
The objective mirrors half the windows (the prior is linear and the same for every coordinate,
so the mirrored fill is the fill of the mirrored window) and scores the mean joint distance on
the unknown entries (MPJPE over the holes) relative to the prior's.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from engine.editing.gap_prior import keypoint_fill
from engine.eval.infill_eval import load_windows
from engine.model.gap_refiner import GapRefiner

SHORT_FRACTION = 0.2  # of windows cropped to 40..window-1 frames
OCCLUSION_FRACTION = 0.3  # of windows with per-joint holes as well
TWO_GAPS_FRACTION = 0.3
RATIO_FLOOR = 0.01  # metres added to the prior's error in the loss's denominator


def sample_holes(rng: np.random.Generator, length: int, max_gap: int) -> np.ndarray:
    """(length, 21) observed mask: one or two gaps of whole frames and sometimes per-joint spans,
    every hole with observed frames of its joint before and after it."""
    mask = np.ones((length, 21), dtype=bool)
    gaps = 2 if rng.random() < TWO_GAPS_FRACTION else 1
    for _ in range(gaps):
        gap = int(rng.integers(5, min(max_gap, length - 4) + 1))
        start = int(rng.integers(2, length - gap - 2 + 1))
        mask[start : start + gap] = False
    if rng.random() < OCCLUSION_FRACTION:
        joints = rng.choice(21, int(rng.integers(1, 6)), replace=False)
        span = int(rng.integers(5, min(60, length - 4) + 1))
        start = int(rng.integers(2, length - span - 2 + 1))
        mask[start : start + span, joints] = False
    return mask


class GapDataset(Dataset):
    """Full-length windows of a shard directory's `split` from `sources` ("real", "synthetic" or
    "all"), with holes and the prior's fill."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        split: str,
        sources: str = "real",
        max_gap: int = 90,
        seed: int = 0,
    ) -> None:
        self.kp3d = load_windows(data_dir, sources, split=split).kp3d
        self.max_gap = max_gap
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.kp3d)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        window = self.kp3d[index]
        total = len(window)
        length = total
        if rng.random() < SHORT_FRACTION:
            length = int(rng.integers(40, total))
            first = int(rng.integers(0, total - length + 1))
            window = window[first : first + length]
        mask = sample_holes(rng, length, min(self.max_gap, length - 10))
        unknown = np.flatnonzero(~mask.all(axis=1))
        filled = window.copy()
        prior = keypoint_fill(window, mask, unknown)
        filled[unknown] = np.where(mask[unknown][..., None], window[unknown], prior)
        pad = total - length
        out = {
            "filled": np.pad(filled, ((0, pad), (0, 0), (0, 0))),
            "truth": np.pad(window, ((0, pad), (0, 0), (0, 0))),
            "mask": np.pad(mask, ((0, pad), (0, 0)), constant_values=True),
            "valid": np.arange(total) < length,
        }
        return {
            k: torch.from_numpy(v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in out.items()
        }


def augment(filled: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A mirror of x in half the windows, the same for the fill and the truth (the refiner reads
    each window in its own hand frame, so rotations would change nothing; a mirror image is the
    motion of a left hand)."""
    sign = torch.where(torch.rand(filled.shape[0], device=filled.device) < 0.5, -1.0, 1.0)
    flip = torch.stack([sign, torch.ones_like(sign), torch.ones_like(sign)], dim=-1)[:, None, None]
    return filled * flip, truth * flip


class GapObjective(nn.Module):
    """Mean joint distance on the unknown entries of each window over the prior's, averaged over
    windows; also reported in millimetres."""

    def __init__(self, refiner: GapRefiner, augment_batches: bool = True) -> None:
        super().__init__()
        self.refiner = refiner
        self.augment_batches = augment_batches

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        filled, truth, mask, valid = batch["filled"], batch["truth"], batch["mask"], batch["valid"]
        if self.training and self.augment_batches:
            filled, truth = augment(filled, truth)
        pred = filled + self.refiner(filled, mask, valid)
        unknown = (~mask & valid[..., None]).float()
        count = unknown.sum(dim=(1, 2)).clamp_min(1.0)
        error = (torch.linalg.norm(pred - truth, dim=-1) * unknown).sum(dim=(1, 2)) / count
        prior = (torch.linalg.norm(filled - truth, dim=-1) * unknown).sum(dim=(1, 2)) / count
        # Each window's error relative to the prior's (plus a floor): short gaps, where the prior is
        # within millimetres, count more than in plain millimetres, where long gaps drown them out.
        loss = (error / (prior + RATIO_FLOOR)).mean()
        return {
            "loss": loss,
            "gap_mm": error.mean().detach() * 1000.0,
            "prior_mm": prior.mean().detach() * 1000.0,
            "ratio_to_prior": (error.sum() / prior.sum().clamp_min(1e-9)).detach(),
        }
