"""Per-frame feature vectors the networks read and write (one place for the model's input layout).

Motion: 16 rotations (global orient + 15 finger joints) as 6D (first two matrix columns, the
convention of engine.motion.rotations) and the translation, normalised -> 99 values per frame.
Conditions keep their per-joint masks (our extension of the paper's per-frame masks): masked entries
are zeroed and the mask itself is part of the input, so "joint unseen" and "joint at 0" differ.
"""

from __future__ import annotations

import torch

from engine.model.config import ModelConfig
from engine.motion.rotations import axis_angle_to_rot6d, rot6d_to_axis_angle

NUM_ROTATIONS = 16
MOTION_DIM = NUM_ROTATIONS * 6 + 3  # 99
KP3D_DIM = 21 * 3 + 21
KP2D_DIM = 21 * 2 + 21 + 1  # + normalised focal length, so 2D can be lifted to metres
MANO_COND_DIM = MOTION_DIM + 1
CONDITION_DIMS = {"kp2d": KP2D_DIM, "kp3d": KP3D_DIM, "mano": MANO_COND_DIM}


def _center(config: ModelConfig, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(config.position_center, dtype=like.dtype, device=like.device)


def motion_features(pose48: torch.Tensor, transl: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """(...,48) axis-angles and (...,3) metres -> (...,99)."""
    rot = axis_angle_to_rot6d(pose48.reshape(*pose48.shape[:-1], NUM_ROTATIONS, 3))
    pos = (transl - _center(config, transl)) / config.position_scale
    return torch.cat([rot.flatten(-2), pos], dim=-1)


def motion_from_features(features: torch.Tensor, config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(...,99) -> (...,48) axis-angles and (...,3) translation in metres."""
    rot = features[..., : NUM_ROTATIONS * 6].reshape(*features.shape[:-1], NUM_ROTATIONS, 6)
    pose = rot6d_to_axis_angle(rot).flatten(-2)
    transl = features[..., NUM_ROTATIONS * 6 :] * config.position_scale + _center(config, features)
    return pose, transl


def kp3d_features(kp3d: torch.Tensor, mask: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """(...,21,3) metres and (...,21) bool -> (...,84)."""
    m = mask.to(kp3d.dtype)
    pos = (torch.nan_to_num(kp3d) - _center(config, kp3d)) / config.position_scale * m[..., None]
    return torch.cat([pos.flatten(-2), m], dim=-1)


def kp2d_features(kp2d_norm: torch.Tensor, mask: torch.Tensor, focal_norm: torch.Tensor) -> torch.Tensor:
    """(...,21,2) normalised pixels (Camera.normalise_2d), (...,21) bool, (...) 2f/max(W,H) -> (...,64)."""
    m = mask.to(kp2d_norm.dtype)
    uv = torch.nan_to_num(kp2d_norm) * m[..., None]
    return torch.cat([uv.flatten(-2), m, focal_norm[..., None].to(uv.dtype)], dim=-1)


def mano_features(
    pose48: torch.Tensor, transl: torch.Tensor, mask: torch.Tensor, config: ModelConfig
) -> torch.Tensor:
    """Known MANO frames (mask (...,) bool) -> (...,100); unknown frames are zero with mask 0."""
    m = mask.to(pose48.dtype)[..., None]
    feats = motion_features(torch.nan_to_num(pose48), torch.nan_to_num(transl), config)
    return torch.cat([feats * m, m], dim=-1)


def focal_norm_from_K(K: torch.Tensor, image_size: torch.Tensor) -> torch.Tensor:
    """(...,3,3), (...,2) [W,H] -> (...) focal length in `Camera.normalise_2d` units (2f / max(W,H))."""
    return 2.0 * K[..., 0, 0] / image_size.max(dim=-1).values.to(K.dtype)
