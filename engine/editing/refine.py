"""Final refinement of a generated motion so it meets what the user fixed, without pops.

The sampled motion theta_model is corrected by a per-frame offset D (pose and translation):
theta = theta_model + D. We minimise

    w3 * sum ||FK(theta) - kp3d||^2  (mm, observed joints)  + w2 * sum ||project(FK(theta)) - kp2d||^2  (px)
    + w_acc * sum ||D[t+1] - 2 D[t] + D[t-1]||^2  + w_mag * sum ||D||^2

over the frames allowed to change. Frames locked by `mano_mask` keep their given parameters exactly,
and frames outside the editable range keep theirs; both still enter the acceleration term, so the
correction blends into them smoothly. Minimum acceleration of D makes a correction between two
observed frames a linear ramp (a residual over interpolation), which is what anchors short gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.hand.model import HandModel


@dataclass(frozen=True)
class RefineTargets:
    """Targets in the motion's space (right hand, canonical camera), numpy, T frames."""

    kp3d: np.ndarray | None = None  # (T,21,3) metres
    kp3d_mask: np.ndarray | None = None  # (T,21) bool
    kp2d: np.ndarray | None = None  # (T,21,2) pixels
    kp2d_mask: np.ndarray | None = None  # (T,21)
    K: np.ndarray | None = None  # (3,3)
    locked: np.ndarray | None = None  # (T,) bool: frames whose given parameters are kept exactly
    locked_pose: np.ndarray | None = None  # (T,48)
    locked_transl: np.ndarray | None = None  # (T,3)


@dataclass(frozen=True)
class RefineWeights:
    kp3d: float = 1.0  # per mm^2
    kp2d: float = 1.0  # per px^2
    acceleration: float = 2e4  # per (rad or 10 cm)^2 / frame^4
    magnitude: float = 1.0
    iterations: int = 60


def refine_motion(
    hand: HandModel,
    pose: np.ndarray,
    transl: np.ndarray,
    betas: np.ndarray,
    targets: RefineTargets,
    editable: np.ndarray | None = None,
    weights: RefineWeights | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """pose (S,T,48), transl (S,T,3) for S samples -> refined copies (same shapes).

    `editable` (T,) bool: frames that may change (default all). Locked frames come back bit-exact.
    """
    w = weights or RefineWeights()
    s, t, _ = pose.shape
    dtype = hand.dtype
    editable = np.ones(t, dtype=bool) if editable is None else np.asarray(editable, dtype=bool)
    locked = np.zeros(t, dtype=bool) if targets.locked is None else np.asarray(targets.locked, dtype=bool)
    fixed_params = np.concatenate([pose, transl], axis=-1).astype(np.float64)
    if locked.any():
        fixed_params[:, locked] = np.concatenate([targets.locked_pose, targets.locked_transl], axis=-1)[
            locked
        ]
    free = editable & ~locked
    base = torch.as_tensor(np.concatenate([pose, transl], axis=-1), dtype=dtype)  # theta_model
    fixed = torch.as_tensor(fixed_params, dtype=dtype)
    free_t = torch.as_tensor(free)
    obs3 = (
        np.zeros((t, 21), dtype=bool) if targets.kp3d is None else np.asarray(targets.kp3d_mask, dtype=bool)
    )
    obs2 = (
        np.zeros((t, 21), dtype=bool) if targets.kp2d is None else np.asarray(targets.kp2d_mask, dtype=bool)
    )
    need_fk = free & (obs3.any(-1) | obs2.any(-1))
    if not free.any():
        out = fixed.numpy().astype(np.float64)
        return out[..., :48], out[..., 48:]
    fk_frames = np.flatnonzero(need_fk)
    kp3d = (
        torch.as_tensor(np.nan_to_num(targets.kp3d[fk_frames]), dtype=dtype)
        if targets.kp3d is not None
        else None
    )
    kp2d = (
        torch.as_tensor(np.nan_to_num(targets.kp2d[fk_frames]), dtype=dtype)
        if targets.kp2d is not None
        else None
    )
    m3 = torch.as_tensor(obs3[fk_frames], dtype=dtype)
    m2 = torch.as_tensor(obs2[fk_frames], dtype=dtype)
    K = torch.as_tensor(targets.K, dtype=dtype) if targets.K is not None else None
    betas_t = torch.as_tensor(betas, dtype=dtype)[None]
    scale = torch.ones(51, dtype=dtype)
    scale[48:] = 10.0  # 10 cm of translation weighs like 1 rad of rotation
    delta = torch.zeros(s, int(free.sum()), 51, dtype=dtype, requires_grad=True)
    opt = torch.optim.LBFGS([delta], lr=1.0, max_iter=w.iterations, line_search_fn="strong_wolfe")
    fk_idx = torch.as_tensor(fk_frames)

    def params() -> torch.Tensor:
        theta = fixed.clone().expand(s, -1, -1).clone()
        theta[:, free_t] = base[:, free_t] + delta
        return theta

    def closure() -> torch.Tensor:
        opt.zero_grad()
        theta = params()
        d = (theta - base) * scale
        loss = w.magnitude * (delta * scale).pow(2).sum()
        if t >= 3:
            loss = loss + w.acceleration * (d[:, 2:] - 2 * d[:, 1:-1] + d[:, :-2]).pow(2).sum()
        if len(fk_frames):
            th = theta[:, fk_idx].reshape(-1, 51)
            _, kp = hand.forward_keypoints(
                th[:, 3:48], th[:, :3], betas_t.expand(th.shape[0], -1), th[:, 48:]
            )
            kp = kp.reshape(s, len(fk_frames), 21, 3)
            if kp3d is not None:
                loss = loss + w.kp3d * (((kp - kp3d) * 1000.0).pow(2).sum(-1) * m3).sum()
            if kp2d is not None and K is not None:
                z = kp[..., 2:].clamp_min(1e-3)
                uv = (kp[..., :2] / z) * torch.stack([K[0, 0], K[1, 1]]) + torch.stack([K[0, 2], K[1, 2]])
                loss = loss + w.kp2d * ((uv - kp2d).pow(2).sum(-1) * m2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        out = params().numpy().astype(np.float64)
    if locked.any():  # exact, not a float32 round trip
        out[:, locked] = fixed_params[:, locked]
    out[:, ~editable] = fixed_params[:, ~editable]
    return out[..., :48], out[..., 48:]
