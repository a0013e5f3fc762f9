"""Fitting keypoint sequences to a hand model: (T,21,3) MP21 keypoints in any rigid frame ->
MANO-format parameters (global orient, 45 finger angles, translation per frame; one betas).

Used to turn real captures into training motion and, through `python main.py fit`, to import
keypoints from MediaPipe, Leap, mocap or other tools. The pipeline:

1. Check the input (shape, finite values under the mask, a plausible hand size in metres).
2. Initialise analytically: per-frame palm orientation and position by weighted Kabsch on the
   palm keypoints, then every finger bone by the minimal rotation ("swing") that points the model's
   rest bone at the observed one, down each finger; clamped into the joint limits.
3. Refine all frames jointly with L-BFGS: a robust (Geman-McClure) keypoint term, so outliers
   saturate instead of dragging the fit; keypoint acceleration (temporal smoothness, which also
   fills masked joints and frames); anatomical joint limits; a small twist prior (a bone's twist is
   not observable from keypoints); a small shape prior.

Only the 16 joints and 5 fingertip vertices are evaluated (`HandModel.forward_keypoints`), which
is what makes fitting fast enough for long captures (docs/results/fitting.md has the numbers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from engine.errors import UniHandError
from engine.hand import create_hand_model
from engine.hand.joint_limits import (
    JOINT_LIMITS_RAD,
    AnatomicalFrames,
    anatomical_angles_torch,
    clamp_pose,
    limit_violation_torch,
)
from engine.hand.mirror import mirror_axis_angle, mirror_points, mirror_transl
from engine.hand.model import HandModel
from engine.hand.skeleton import MANO_PARENTS, MANO_TO_MP21, NUM_BETAS, POSE_DIM
from engine.motion.rotations import axis_angle_to_matrix, matrix_to_axis_angle, rotation_between
from engine.motion.types import Conditions, HandMotion

NUM_KEYPOINTS = 21
# MP21 keypoints that move rigidly with the palm: wrist and the index..pinky knuckles.
PALM_KEYPOINTS = (0, 5, 9, 13, 17)
# Where each MANO joint / fingertip (combined index 0..20, tips 16..20) sits in MP21 order.
_MP21_OF = np.argsort(np.asarray(MANO_TO_MP21))
# Combined-index child of each MANO finger joint along its bone (fingertips end each chain).
_BONE_CHILD = {j: j + 1 for j in range(1, 16) if j % 3 != 0}
_BONE_CHILD.update({3: 17, 6: 18, 9: 20, 12: 19, 15: 16})  # index, middle, pinky, ring, thumb tips


class FitError(UniHandError, ValueError):
    """Keypoints that cannot be fitted; the message says what is wrong and where."""


@dataclass(frozen=True)
class FitConfig:
    """Weights and solver settings; the defaults are the ones measured in docs/results/fitting.md."""

    iterations: int = 80  # L-BFGS iterations over the whole sequence
    robust_scale: float = 0.02  # metres: residuals well above this count as outliers
    smooth_weight: float = 0.02  # keypoint acceleration, relative to the keypoint term
    limit_weight: float = 1e-3  # squared radians outside the anatomical limits
    twist_weight: float = 1e-7  # squared finger twist (unobservable from keypoints)
    betas_weight: float = 1e-9  # squared shape coefficients
    fit_betas: bool = True
    polish_iterations: int = 20  # shape and pose together, after pose alone
    min_scale: float = 0.6  # accepted hand size relative to the model's, before betas
    max_scale: float = 1.6


@dataclass(frozen=True)
class FitResult:
    motion: HandMotion  # fitted parameters; `joints` are the fitted keypoints in the input frame
    errors: np.ndarray  # (T,21) metres between fitted and given keypoints; NaN where not observed
    seconds: float
    iterations: int

    @property
    def mpjpe(self) -> float:
        """Mean per-joint position error over the observed keypoints, metres."""
        return float(np.nanmean(self.errors))

    @property
    def outlier_fraction(self) -> float:
        """Observed keypoints the fit left more than 2 cm away (occlusion glitches, swaps)."""
        observed = np.isfinite(self.errors)
        return float((self.errors[observed] > 0.02).mean()) if observed.any() else 0.0


# --------------------------------------------------------------------------- input checks


def _check_input(keypoints: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3):
        raise FitError(f"keypoints: expected shape (T, 21, 3) in MP21 order, got {kp.shape}")
    if kp.shape[0] == 0:
        raise FitError("keypoints: the sequence has no frames")
    finite = np.isfinite(kp).all(axis=-1)
    if mask is None:
        mask = finite
    else:
        mask = np.asarray(mask)
        if mask.shape != kp.shape[:2]:
            raise FitError(f"mask: expected shape {kp.shape[:2]} to match the keypoints, got {mask.shape}")
        if mask.dtype != np.bool_:
            raise FitError(f"mask: expected booleans, got {mask.dtype}")
        bad = mask & ~finite
        if bad.any():
            frame, joint = np.argwhere(bad)[0]
            raise FitError(
                f"keypoints: non-finite value at frame {frame}, joint {joint} where the mask says it is "
                f"observed ({int(bad.sum())} such entries)"
            )
    if mask.sum(axis=1).max() < 3:
        raise FitError("keypoints: no frame has 3 or more observed keypoints; nothing to fit")
    return np.where(mask[..., None], kp, 0.0), mask.astype(bool)


def _bone_length(kp: np.ndarray, mask: np.ndarray, a: int, b: int) -> float:
    both = mask[:, a] & mask[:, b]
    if not both.any():
        return float("nan")
    return float(np.median(np.linalg.norm(kp[both, a] - kp[both, b], axis=-1)))


def _check_scale(kp: np.ndarray, mask: np.ndarray, rest_kp: np.ndarray, config: FitConfig) -> None:
    """Refuse keypoints in the wrong unit or of the wrong thing, with a hint, before fitting."""
    bones = [(0, 5), (0, 9), (0, 13), (0, 17), (5, 17), (9, 10), (5, 6)]
    ratios = []
    for a, b in bones:
        seen = _bone_length(kp, mask, a, b)
        if np.isfinite(seen):
            ratios.append(seen / np.linalg.norm(rest_kp[a] - rest_kp[b]))
    if not ratios:
        return  # no palm bone observed: the fit itself will be weak, but the scale cannot be judged
    scale = float(np.median(ratios))
    if config.min_scale <= scale <= config.max_scale:
        return
    hint = ""
    for unit, factor in (("millimetres", 1000.0), ("centimetres", 100.0), ("inches", 39.37)):
        if 0.7 < scale / factor < 1.4:
            hint = f"; the keypoints look like {unit}: convert them to metres"
    raise FitError(
        f"keypoints: the hand is {scale:.3g} times the size of the model's (accepted "
        f"{config.min_scale}-{config.max_scale}); keypoints must be in metres, in MP21 order{hint}"
    )


# --------------------------------------------------------------------------- shape from distances

# Keypoint pairs whose distance does not depend on the pose: the six points fixed to the palm (wrist,
# thumb base, four knuckles) pairwise, and each finger bone.
_RIGID_PALM = (0, 1, 5, 9, 13, 17)
_RIGID_PAIRS = tuple(
    [(a, b) for i, a in enumerate(_RIGID_PALM) for b in _RIGID_PALM[i + 1 :]]
    + [(a, a + 1) for f in range(5) for a in range(1 + 4 * f, 4 + 4 * f)]
)


def estimate_betas(model: HandModel, kp: np.ndarray, mask: np.ndarray, prior: float = 1e-3) -> np.ndarray:
    """Shape from the median length of every pose-independent distance (Gauss-Newton, 10 steps).

    Fitting shape and 1000 frames of pose together converges slowly (the shape couples every
    frame); the lengths pin the shape first, cheaply and robustly. Directions the distances do not
    see (e.g. finger thickness) stay at zero through the small prior.
    """
    pairs = [(a, b) for a, b in _RIGID_PAIRS if (mask[:, a] & mask[:, b]).any()]
    if not pairs:
        return np.zeros(model.num_betas)
    seen = np.array([_bone_length(kp, mask, a, b) for a, b in pairs])
    base, dirs = _rest_keypoints_linear(model)
    ia, ib = np.array(pairs).T
    diff0 = base[ia] - base[ib]  # (P,3)
    ddir = dirs[ia] - dirs[ib]  # (P,3,S)
    betas = np.zeros(model.num_betas)
    for _ in range(10):
        diff = diff0 + ddir @ betas
        length = np.linalg.norm(diff, axis=-1)
        jac = np.einsum("pc,pcs->ps", diff / length[:, None], ddir)
        residual = length - seen
        lhs = jac.T @ jac + prior * 1e-4 * np.eye(len(betas))
        step = np.linalg.solve(lhs, -(jac.T @ residual + prior * 1e-4 * betas))
        betas = np.clip(betas + step, -5.0, 5.0)
        if np.abs(step).max() < 1e-6:
            break
    return betas


def _rest_keypoints_linear(model: HandModel) -> tuple[np.ndarray, np.ndarray]:
    """MP21 rest keypoints as base (21,3) + dirs (21,3,S) @ betas (fingertips: their rest vertices)."""
    base = torch.cat([model.joint_template, model.tip_template]).double().numpy()
    dirs = torch.cat([model.joint_shapedirs, model.tip_shapedirs]).double().numpy()
    index = np.asarray(MANO_TO_MP21)
    return base[index], dirs[index]


# --------------------------------------------------------------------------- initialisation


def _kabsch(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched weighted rigid fit: R (T,3,3), t (T,3) minimising sum w |R src + t - dst|^2."""
    w = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    mu_s = np.einsum("tk,kc->tc", w, src)
    mu_d = np.einsum("tk,tkc->tc", w, dst)
    cov = np.einsum("tk,tka,tkb->tab", w, dst - mu_d[:, None], src[None] - mu_s[:, None])
    u, _, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(d), 3))
    fix[:, 2] = d
    rot = u @ (fix[:, :, None] * vt)
    return rot, mu_d - np.einsum("tab,tb->ta", rot, mu_s)


def _fill_from_neighbours(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Copy each invalid frame's value from the nearest valid frame."""
    if valid.all():
        return values
    idx = np.flatnonzero(valid)
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(len(valid))), 0, len(idx) - 1)]
    before = idx[np.clip(np.searchsorted(idx, np.arange(len(valid))) - 1, 0, len(idx) - 1)]
    frames = np.arange(len(valid))
    pick = np.where(np.abs(before - frames) < np.abs(nearest - frames), before, nearest)
    return values[pick]


def _interpolate_missing(kp: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill each keypoint's unobserved frames linearly in time from its observed ones (held flat
    past the ends), for the analytic start only; the fit itself uses just the observed values."""
    filled = kp.copy()
    fillable = mask.copy()
    frames = np.arange(kp.shape[0])
    for joint in range(kp.shape[1]):
        seen = mask[:, joint]
        if seen.all() or not seen.any():
            continue
        for c in range(3):
            filled[~seen, joint, c] = np.interp(frames[~seen], frames[seen], kp[seen, joint, c])
        fillable[:, joint] = True
    return filled, fillable


def _initialise(
    model: HandModel, kp: np.ndarray, mask: np.ndarray, frames: AnatomicalFrames, betas: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analytic start: global orient (T,3), hand pose (T,45), transl (T,3) for the given shape."""
    t = kp.shape[0]
    base, dirs = _rest_keypoints_linear(model)
    rest_kp = base + dirs @ betas
    rest_combined = rest_kp[_MP21_OF]  # MANO joints, then fingertips
    palm = list(PALM_KEYPOINTS)
    weights = mask[:, palm].astype(np.float64)
    enough = weights.sum(axis=1) >= 3
    if not enough.any():  # no frame shows 3 palm points: use every observed keypoint instead
        palm = list(range(NUM_KEYPOINTS))
        weights = mask.astype(np.float64)
        enough = weights.sum(axis=1) >= 3
    rot, trans = _kabsch(rest_kp[palm], kp[:, palm], np.where(enough[:, None], weights, 1.0))
    rot = _fill_from_neighbours(rot, enough)
    trans = _fill_from_neighbours(trans, enough)
    # transl is relative to the rest wrist, about which the root rotates.
    wrist = rest_combined[0]
    transl = trans + np.einsum("tab,b->ta", rot, wrist) - wrist

    observed = np.zeros((t, 21), dtype=bool)
    target = np.zeros((t, 21, 3))
    observed[:, :] = mask[:, _MP21_OF]
    target[:] = kp[:, _MP21_OF]
    global_rot = np.zeros((t, 16, 3, 3))
    global_rot[:, 0] = rot
    local = np.tile(np.eye(3), (t, 15, 1, 1))
    for joint in range(1, 16):  # parents come first in MANO order
        parent = global_rot[:, MANO_PARENTS[joint]]
        child = _BONE_CHILD[joint]
        rest_dir = np.einsum("tab,b->ta", parent, rest_combined[child] - rest_combined[joint])
        seen = observed[:, joint] & observed[:, child]
        seen_dir = np.where(seen[:, None], target[:, child] - target[:, joint], rest_dir)
        swing = rotation_between(rest_dir, seen_dir)
        global_rot[:, joint] = swing @ parent
        local[:, joint - 1] = np.swapaxes(parent, -1, -2) @ global_rot[:, joint]
    hand_pose = matrix_to_axis_angle(torch.as_tensor(local)).reshape(t, POSE_DIM).numpy()
    hand_pose = clamp_pose(hand_pose, frames)
    global_orient = matrix_to_axis_angle(torch.as_tensor(rot)).numpy()
    return global_orient, hand_pose, transl


# --------------------------------------------------------------------------- refinement


def _refine(
    model: HandModel,
    kp: np.ndarray,
    mask: np.ndarray,
    init: tuple[np.ndarray, np.ndarray, np.ndarray],
    betas0: np.ndarray,
    frames: AnatomicalFrames,
    config: FitConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    f64 = model.dtype
    orient = torch.tensor(init[0], dtype=f64, requires_grad=True)
    pose = torch.tensor(init[1], dtype=f64, requires_grad=True)
    transl = torch.tensor(init[2], dtype=f64, requires_grad=True)
    betas = torch.tensor(betas0[None], dtype=f64, requires_grad=config.fit_betas)
    target = torch.as_tensor(kp, dtype=f64)
    weight = torch.as_tensor(mask, dtype=f64)
    num_observed = max(float(weight.sum()), 1.0)
    bases = torch.as_tensor(frames.bases, dtype=f64)
    limits = torch.as_tensor(JOINT_LIMITS_RAD, dtype=f64)
    s2 = config.robust_scale**2
    t = kp.shape[0]
    params = [orient, pose, transl] + ([betas] if config.fit_betas else [])
    optimiser = torch.optim.LBFGS(
        params, lr=1.0, max_iter=config.iterations, history_size=20, line_search_fn="strong_wolfe",
        tolerance_grad=1e-12, tolerance_change=1e-14,
    )  # fmt: skip
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        optimiser.zero_grad()
        _, fitted = model.forward_keypoints(pose, orient, betas, transl)
        r2 = ((fitted - target) ** 2).sum(-1)
        # Geman-McClure: quadratic for small residuals, saturating at s^2 for outliers.
        loss = (weight * (s2 * r2 / (r2 + s2))).sum() / num_observed
        if t >= 3:
            accel = fitted[2:] - 2.0 * fitted[1:-1] + fitted[:-2]
            loss = loss + config.smooth_weight * (accel**2).sum(-1).mean()
        angles = anatomical_angles_torch(axis_angle_to_matrix(pose.reshape(t, 15, 3)), bases)
        outside = limit_violation_torch(angles, limits)
        loss = loss + config.limit_weight * (outside**2).sum((-1, -2)).mean()
        loss = loss + config.twist_weight * (angles[..., 2] ** 2).sum(-1).mean()
        loss = loss + config.betas_weight * (betas**2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return (
        orient.detach().double().numpy(),
        pose.detach().double().numpy(),
        transl.detach().double().numpy(),
        betas.detach().double().numpy()[0],
        evaluations,
    )


# --------------------------------------------------------------------------- public API


def fit_keypoints(
    keypoints: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    fps: float = 30.0,
    handedness: str = "right",
    hand_model: str = "default",
    config: FitConfig | None = None,
    betas: np.ndarray | None = None,
) -> FitResult:
    """Fit a (T,21,3) MP21 keypoint sequence (metres, any rigid frame) with one shape per sequence.

    `mask` (T,21) says which keypoints are observed (default: the finite ones); masked entries may
    hold anything. Left hands are mirrored in, fitted with the right model, and mirrored back, so the
    result drives the left model. `betas` fixes the shape instead of fitting it.
    """
    config = config or FitConfig()
    if handedness not in ("right", "left"):
        raise FitError(f"handedness: expected 'right' or 'left', got {handedness!r}")
    start = time.perf_counter()
    kp, mask = _check_input(keypoints, mask)
    if handedness == "left":
        kp = mirror_points(kp)
    model = create_hand_model(hand_model, "right", dtype=torch.float64)
    frames = AnatomicalFrames.from_hand(model.data)
    _check_scale(kp, mask, _rest_keypoints_linear(model)[0], config)
    if betas is not None:
        betas0 = np.asarray(betas, dtype=np.float64)
        if betas0.shape != (NUM_BETAS,):
            raise FitError(f"betas: expected shape ({NUM_BETAS},), got {betas0.shape}")
    else:
        betas0 = estimate_betas(model, kp, mask) if config.fit_betas else np.zeros(NUM_BETAS)
    filled, fillable = _interpolate_missing(kp, mask)
    init = _initialise(model, filled, fillable, frames, betas0)
    # Pose with the shape held, first with a wide robust kernel (nearly least squares, so joints the
    # start got wrong are still pulled in), then the real one; last a short polish of shape and pose.
    # The solver runs in float32 (about twice as fast; its error floor is far below a micrometre).
    solver = create_hand_model(hand_model, "right", dtype=torch.float32)
    wide = replace(
        config, fit_betas=False, robust_scale=5 * config.robust_scale, iterations=config.iterations // 2
    )
    orient, pose, transl, _, evaluations = _refine(solver, kp, mask, init, betas0, frames, wide)
    narrow = replace(config, fit_betas=False, iterations=config.iterations - wide.iterations)
    orient, pose, transl, _, more = _refine(solver, kp, mask, (orient, pose, transl), betas0, frames, narrow)
    evaluations += more
    fitted_betas = betas0  # the pose stages hold the shape: keep it exactly, not a float32 copy
    if betas is None and config.fit_betas and config.polish_iterations > 0:
        polish = replace(config, iterations=config.polish_iterations)
        orient, pose, transl, fitted_betas, more = _refine(
            solver, kp, mask, (orient, pose, transl), fitted_betas, frames, polish
        )
        evaluations += more
    with torch.no_grad():
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
        _, fitted = model.forward_keypoints(as_t(pose), as_t(orient), as_t(fitted_betas[None]), as_t(transl))
    fitted = fitted.numpy()
    errors = np.where(mask, np.linalg.norm(fitted - kp, axis=-1), np.nan)
    if handedness == "left":
        left = create_hand_model(hand_model, "left", dtype=torch.float64)
        wrist_r = model.rest_joints(fitted_betas)[0, 0].numpy()
        wrist_l = left.rest_joints(fitted_betas)[0, 0].numpy()
        orient, pose = mirror_axis_angle(orient), mirror_axis_angle(pose)
        transl = mirror_transl(transl, wrist_r, wrist_l)
        fitted = mirror_points(fitted)
    motion = HandMotion(
        fps=fps,
        handedness=handedness,
        hand_model=hand_model,
        global_orient=orient,
        hand_pose=pose,
        transl=transl,
        betas=fitted_betas,
        joints=fitted,
    )
    return FitResult(
        motion=motion, errors=errors, seconds=time.perf_counter() - start, iterations=evaluations
    )


def fit_conditions(
    cond: Conditions, hand_model: str = "default", config: FitConfig | None = None
) -> FitResult:
    """Fit the 3D keypoints of a conditions file (camera space) into motion in the same space."""
    if not cond.has("kp3d"):
        raise FitError(
            f"the conditions hold {list(cond.channels) or 'no channels'} but fitting needs 3D keypoints "
            "(kp3d); 2D-only input is what `main.py estimate` and `main.py infill` are for"
        )
    return fit_keypoints(
        cond.kp3d,
        cond.kp3d_mask,
        fps=cond.fps,
        handedness=cond.handedness,
        hand_model=hand_model,
        config=config,
    )
