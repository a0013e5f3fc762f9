"""Final refinement of a generated motion so it meets what the user fixed, without pops.

The sampled motion theta_model (pose + translation per frame) is corrected by an offset D(t):

1. Key frames: frames with hard targets (3D pins; 2D drags) get their own D by inverse kinematics,
   all key frames in one batched solve: w3 ||FK - kp3d||^2 (mm) + w2 ||proj(FK) - kp2d||^2 (px)
   + w_mag ||D||^2. Where a joint has both, the 3D target wins (the two would otherwise fight).
2. Soft frames: 2D keypoints that are evidence rather than edits (a detector's, outside the edit
   range) are followed weakly, frame by frame, and their D is smoothed over time so the detector's
   jitter does not come through.
3. Anchors: frames locked by `mano_mask` (D = locked - model) and frames just outside the editable
   range (D = 0) pin the correction down at the edges.
4. Everything between is filled by monotone cubic (PCHIP) interpolation of D through the keys,
   anchors and soft frames: a correction fades in and out smoothly (no pops), and between observed
   frames the result is the model's motion plus an interpolated residual, which is what anchors
   short gaps to the observed keypoints.
5. With `interpolate_global` (whole-clip generation), gaps between observed frames take the hand's
   global orientation and translation from splines through the observed frames, and finger
   rotations blend from the splines to the model's by distance to the evidence (`_spline_global`).
   The splines are rotation splines of the refined frames' joints, or, with 3D keypoints, the hand
   fitted to a gap prior of each keypoint (`RefineWeights.gap_splines`): "keypoints_learned", the
   mean of a Gaussian process (`gap_prior.py`) corrected by the learned gap refiner
   (`engine/model/gap_refiner.py`), "keypoints_gp", that mean alone, or "keypoints", a cubic spline.

Locked frames and frames outside the editable range come back bit-exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import CubicSpline, PchipInterpolator
from scipy.ndimage import gaussian_filter1d

from engine.editing import gap_prior
from engine.hand.model import HandModel
from engine.model.gap_refiner import GapRefiner

PARAMS = 51  # 48 axis-angle values + 3 translation
ANCHOR_WEIGHT = 0.03  # residual multiplier of an unpinned joint's old place: ~1 per mm^2 vs 1000 for a pin
CHUNK_FRAMES = 256  # frames per batched solve: the Jacobian needs 52 hand evaluations per frame
CONVERGED = 1e-4  # relative cost decrease of an accepted LM step below which a frame stops
# "keypoints_learned": the Gaussian-process prior corrected by the learned gap refiner
# (engine/model/gap_refiner.py); without one loaded it is "keypoints_gp".
GAP_SPLINES = ("rotations", *gap_prior.KEYPOINT_PRIORS, "keypoints_learned")


@dataclass(frozen=True)
class RefineTargets:
    """Targets in the motion's space (right hand, canonical camera), numpy, T frames."""

    kp3d: np.ndarray | None = None  # (T,21,3) metres
    kp3d_mask: np.ndarray | None = None  # (T,21) bool
    kp2d: np.ndarray | None = None  # (T,21,2) pixels
    kp2d_mask: np.ndarray | None = None  # (T,21)
    kp2d_hard: np.ndarray | None = None  # (T,21) bool: 2D keypoints that are edits (met exactly)
    K: np.ndarray | None = None  # (3,3)
    locked: np.ndarray | None = None  # (T,) bool: frames whose given parameters are kept exactly
    locked_pose: np.ndarray | None = None  # (T,48)
    locked_transl: np.ndarray | None = None  # (T,3)


@dataclass(frozen=True)
class RefineWeights:
    kp3d: float = 1000.0  # per mm^2: a 3D pin is the most explicit thing a user says
    kp2d: float = 1.0  # per px^2
    magnitude: float = 10.0  # per (rad or 10 cm)^2: stay near the model where targets allow
    kp2d_soft: float = 0.2  # per px^2, for detector keypoints
    soft_smoothing: float = 2.0  # frames (Gaussian sigma) over the soft corrections
    key_radius: int = 8  # frames over which a pin's or drag's correction fades into the evidence
    # Finger rotations in gaps blend from their rotation spline (next to the evidence) to the model
    # (deep inside long gaps): spline weight exp(-(d - 1) / gap_fingers_decay) at d frames from the
    # nearest known frame; 0 keeps the model throughout. Chosen on synthetic validation (MODEL_CARD).
    gap_fingers_decay: float = 20.0
    # The splines of a gap bounded by 3D keypoints: "rotations", rotation splines of each joint
    # (what 2D-only gaps always use); "keypoints", the hand fitted to a cubic spline of each
    # keypoint; "keypoints_gp", to each keypoint's Gaussian-process mean (gap_prior.py);
    # "keypoints_learned", to that mean corrected by the learned gap refiner (when one is loaded).
    # `benchmarks/sweep_gap_fingers.py` on 30 real training windows: 5.51 / 54.9 / 155.6 mm at gaps
    # of 10 / 30 / 60 frames with "keypoints_gp" against 8.10 / 61.2 / 151.7 for rotations
    # (MODEL_CARD.md, which also has the learned refiner's numbers).
    gap_splines: str = "keypoints_learned"
    iterations: int = 40  # Levenberg-Marquardt steps at most (converged edits stop after ~5-10)

    def __post_init__(self) -> None:
        if self.gap_splines not in GAP_SPLINES:
            raise ValueError(f"gap_splines must be one of {GAP_SPLINES}, got {self.gap_splines!r}")


def _solve_frames(
    hand: HandModel,
    base: torch.Tensor,
    betas: torch.Tensor,
    kp3d: torch.Tensor | None,
    m3: torch.Tensor,
    kp2d: torch.Tensor | None,
    m2: torch.Tensor,
    K: torch.Tensor | None,
    w3: float,
    w2: float,
    w_mag: float,
    iterations: int,
    active: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-frame IK for N frames at once by Levenberg-Marquardt: base (N,51) -> offsets D (N,51).

    `active` (51,) bool: the parameters that may move (default all).

    Pixels, millimetres and radians differ by orders of magnitude in sensitivity; LM's Gauss-Newton
    model absorbs that where L-BFGS needed hundreds of iterations. The Jacobian is taken by forward
    differences in float64 (one batched forward-kinematics call per iteration).
    """
    n = base.shape[0]
    scale = torch.ones(PARAMS, dtype=base.dtype)
    scale[48:] = 10.0  # 10 cm of translation weighs like 1 rad of rotation
    sw3, sw2, smag = w3**0.5, w2**0.5, w_mag**0.5

    def residuals(delta: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """(M,F,51) offsets of frames `idx` (F,) -> (M,F,R) weighted residuals."""
        m, f = delta.shape[:2]
        th = (base[idx] + delta).reshape(-1, PARAMS)
        _, kp = hand.forward_keypoints(th[:, 3:48], th[:, :3], betas.expand(m * f, -1), th[:, 48:])
        kp = kp.reshape(m, f, 21, 3)
        parts = [smag * delta * scale]
        if kp3d is not None:
            parts.append((sw3 * 1000.0 * (kp - kp3d[idx]) * m3[idx][..., None]).flatten(2))
        if kp2d is not None and K is not None:
            z = kp[..., 2:].clamp_min(1e-3)
            uv = (kp[..., :2] / z) * torch.stack([K[0, 0], K[1, 1]]) + torch.stack([K[0, 2], K[1, 2]])
            parts.append((sw2 * (uv - kp2d[idx]) * m2[idx][..., None]).flatten(2))
        return torch.cat(parts, dim=-1)

    eps = 1e-6
    probe = torch.eye(PARAMS, dtype=base.dtype)[:, None, :] * eps  # (51,1,51)
    delta = torch.zeros(n, PARAMS, dtype=base.dtype)
    todo = torch.arange(n)
    r = residuals(delta[None], todo)[0]
    cost = r.pow(2).sum(-1)
    lam = torch.full((n,), 1e-3, dtype=base.dtype)
    eye = torch.eye(PARAMS, dtype=base.dtype)
    with torch.no_grad():
        for _ in range(iterations):
            # Only the frames still improving are evaluated: a batch shrinks as frames converge.
            d, r_i, lam_i = delta[todo], r[todo], lam[todo]
            shifted = residuals(d[None] + probe, todo)  # (51,F,R)
            jac = ((shifted - r_i[None]) / eps).permute(1, 2, 0)  # (F,R,51)
            if active is not None:
                jac = jac * active.to(jac.dtype)
            jtj = jac.transpose(1, 2) @ jac
            grad = (jac.transpose(1, 2) @ r_i[..., None])[..., 0]
            damp = lam_i[:, None, None] * (jtj * eye + 1e-9 * eye)
            if active is not None:
                damp = damp + torch.diag((~active).to(jac.dtype) * 1e12)
            step = -torch.linalg.solve(jtj + damp, grad)
            r_new = residuals((d + step)[None], todo)[0]
            cost_new = r_new.pow(2).sum(-1)
            accept = cost_new < cost[todo]
            delta[todo] = torch.where(accept[:, None], d + step, d)
            r[todo] = torch.where(accept[:, None], r_new, r_i)
            improvement = (cost[todo] - cost_new).clamp_min(0) / cost[todo].clamp_min(1e-12)
            cost[todo] = torch.where(accept, cost_new, cost[todo])
            lam_i = torch.where(accept, lam_i * 0.3, lam_i * 10.0).clamp(1e-9, 1e9)
            lam[todo] = lam_i
            # A frame has converged when an accepted step gains less than CONVERGED of its cost
            # (the last 40 iterations of an edit moved a pin by micrometres), or it stalls.
            converged = (accept & (improvement < CONVERGED)) | (lam_i >= 1e8)
            todo = todo[~converged]
            if len(todo) == 0:
                break
    return delta


def gap_frames(known: np.ndarray) -> np.ndarray:
    """The unknown frames between the first and the last known one."""
    times = np.flatnonzero(known)
    if len(times) < 2:
        return np.zeros(0, dtype=int)
    inside = np.arange(times[0], times[-1] + 1)
    return inside[~known[inside]]


def _spline_global(
    out: np.ndarray, known: np.ndarray, finger_decay: float = 0.0, projected: np.ndarray | None = None
) -> None:
    """In place: global orient (RotationSpline) and translation (cubic spline) through the known
    frames, on the unknown frames between the first and the last known one. With `finger_decay` > 0
    each finger rotation moves towards its own rotation spline by exp(-(d - 1) / finger_decay), d the
    distance in frames to the nearest known frame: splines where evidence is near, the model's
    articulation where it is far.

    `projected` (S,F,51), on `gap_frames(known)`: the hand fitted to splines of the observed 3D
    keypoints; it replaces the rotation and translation splines (global and fingers alike)."""
    from scipy.spatial.transform import Rotation, RotationSpline

    times = np.flatnonzero(known)
    fill = gap_frames(known)
    if len(fill) == 0:
        return
    joints = range(16) if finger_decay > 0 else range(1)
    if finger_decay > 0:
        distance = np.abs(fill[:, None] - times[None]).min(axis=1)
        towards_spline = np.exp(-(distance - 1) / finger_decay)[:, None]
    for i in range(out.shape[0]):
        for j in joints:
            if projected is not None:
                spline = Rotation.from_rotvec(projected[i, :, 3 * j : 3 * j + 3])
            else:
                rots = Rotation.from_rotvec(out[i, times, 3 * j : 3 * j + 3])
                spline = RotationSpline(times, rots)(fill)
            if j == 0:
                out[i, fill, :3] = spline.as_rotvec()
            else:
                model = Rotation.from_rotvec(out[i, fill, 3 * j : 3 * j + 3])
                # Geodesic blend model -> spline.
                delta = (model.inv() * spline).as_rotvec() * towards_spline
                out[i, fill, 3 * j : 3 * j + 3] = (model * Rotation.from_rotvec(delta)).as_rotvec()
        # A C2 cubic spline, not PCHIP: the wrist is the translation plus a constant, and hand paths
        # are smooth; PCHIP flattens every extremum (twice the wrist error over 10-frame gaps).
        if projected is not None:
            out[i, fill, 48:] = projected[i, :, 48:]
        else:
            out[i, fill, 48:] = CubicSpline(times, out[i, times, 48:], axis=0, bc_type="natural")(fill)


def refine_motion(
    hand: HandModel,
    pose: np.ndarray,
    transl: np.ndarray,
    betas: np.ndarray,
    targets: RefineTargets,
    editable: np.ndarray | None = None,
    weights: RefineWeights | None = None,
    interpolate_global: bool = False,
    follow_evidence: bool = True,
    gap_refiner: GapRefiner | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """pose (S,T,48), transl (S,T,3) for S samples -> refined copies (same shapes).

    `editable` (T,) bool: frames that may change (default all); the others are returned as given.
    `interpolate_global`: between observed frames, take the hand's global orientation and position
    from a spline through the observed frames' refined values instead of the model's (the shipped
    model's articulation is far better than its global trajectory: MODEL_CARD.md).
    `follow_evidence`: solve for the soft 2D evidence; an edit of a motion that already follows it
    passes False, so only the pins and drags (and their fade) change it.
    `gap_refiner`: the learned correction of the keypoint prior ("keypoints_learned").
    """
    w = weights or RefineWeights()
    s, t, _ = pose.shape
    dtype = hand.dtype
    editable = np.ones(t, dtype=bool) if editable is None else np.asarray(editable, dtype=bool)
    locked = np.zeros(t, dtype=bool) if targets.locked is None else np.asarray(targets.locked, dtype=bool)
    theta = np.concatenate([pose, transl], axis=-1).astype(np.float64)
    fixed = theta.copy()
    if locked.any():
        fixed[:, locked] = np.concatenate([targets.locked_pose, targets.locked_transl], axis=-1)[locked]
    free = editable & ~locked
    obs3 = np.zeros((t, 21), bool) if targets.kp3d is None else np.asarray(targets.kp3d_mask, bool).copy()
    obs2 = np.zeros((t, 21), bool) if targets.kp2d is None else np.asarray(targets.kp2d_mask, bool).copy()
    obs3[~free] = False
    obs2[~free] = False
    obs2 &= ~obs3  # 3D wins where a joint has both
    hard2 = (
        np.zeros((t, 21), bool) if targets.kp2d_hard is None else np.asarray(targets.kp2d_hard, bool) & obs2
    )
    key = obs3.any(-1) | hard2.any(-1)
    # Residual weights (squared in the cost): on key frames a drag counts fully, the other 2D
    # keypoints of that frame only as much as detector evidence does elsewhere.
    w2_entries = np.where(hard2, 1.0, np.sqrt(w.kp2d_soft / w.kp2d)) * obs2
    offsets = np.full((s, t, PARAMS), np.nan)
    offsets[:, ~editable] = 0.0
    if locked.any():
        offsets[:, locked] = fixed[:, locked] - theta[:, locked]
    betas_t = torch.as_tensor(betas, dtype=dtype)[None]
    K = torch.as_tensor(targets.K, dtype=dtype) if targets.K is not None else None
    obs3_f = obs3.astype(np.float64)
    kp3d_t = None if targets.kp3d is None else np.array(targets.kp3d, dtype=np.float64)
    if not follow_evidence and key.any():
        # An edit: the joints nobody pinned keep their 3D place (weakly), or a pin could slide the
        # whole hand along the camera rays, which 2D evidence cannot see.
        kf = np.flatnonzero(key)
        th = torch.as_tensor(theta[0, kf], dtype=dtype)
        with torch.no_grad():
            _, current = hand.forward_keypoints(
                th[:, 3:48], th[:, :3], betas_t.expand(len(kf), -1), th[:, 48:]
            )
        if kp3d_t is None:
            kp3d_t = np.zeros((t, 21, 3))
        anchor = np.zeros((t, 21), bool)
        anchor[kf] = ~obs3[kf] & ~hard2[kf]
        kp3d_t[kf] = np.where(anchor[kf, :, None], current.numpy(), kp3d_t[kf])
        obs3_f = np.where(anchor, ANCHOR_WEIGHT, obs3_f)

    def solve(
        frames: np.ndarray,
        start: np.ndarray,
        w2: float,
        m2: np.ndarray,
        use3d: bool,
        active: torch.Tensor | None,
        kp3d: np.ndarray | None = None,
        w3: np.ndarray | None = None,
    ) -> np.ndarray:
        """LM offsets (S,F,51) from `start` (S,F,51), in chunks so memory stays bounded; 3D targets
        and their per-joint weights (T,21) are the pins unless given."""
        kp3d = kp3d_t if kp3d is None else kp3d
        w3 = obs3_f if w3 is None else w3
        out = np.zeros_like(start)
        for c in range(0, len(frames), CHUNK_FRAMES):
            sel = frames[c : c + CHUNK_FRAMES]

            def rep(a: np.ndarray | None, sel: np.ndarray = sel) -> torch.Tensor | None:
                if a is None:
                    return None
                return torch.as_tensor(np.nan_to_num(a[sel]), dtype=dtype).repeat(s, *([1] * (a.ndim - 1)))

            base = torch.as_tensor(start[:, c : c + len(sel)].reshape(-1, PARAMS), dtype=dtype)
            d = _solve_frames(
                hand, base, betas_t, rep(kp3d) if use3d else None, rep(w3), rep(targets.kp2d),
                rep(m2), K, w.kp3d, w2, w.magnitude, w.iterations, active=active,
            )  # fmt: skip
            out[:, c : c + len(sel)] = d.numpy().reshape(s, len(sel), PARAMS)
        return out

    # 1. Detector evidence on every frame that has it (key frames included): place the whole hand
    # first (6 DOF, smoothed over time), so the per-frame articulation solve starts near one
    # consistent answer instead of landing in a different local minimum every frame; then all.
    evidence = np.flatnonzero(obs2.any(-1) & free)
    soft_delta = np.zeros((s, t, PARAMS))
    if len(evidence) and not follow_evidence:
        offsets[:, evidence] = 0.0  # an edit: the motion shown already follows the evidence
    elif len(evidence):
        m2 = obs2.astype(np.float64)
        glob = torch.zeros(PARAMS, dtype=torch.bool)
        glob[:3] = True
        glob[48:] = True
        d1 = solve(evidence, theta[:, evidence], w.kp2d_soft, m2, False, glob)
        if len(evidence) > 2:
            d1 = gaussian_filter1d(d1, w.soft_smoothing, axis=1, mode="nearest")
        d2 = solve(evidence, theta[:, evidence] + d1, w.kp2d_soft, m2, False, None)
        if len(evidence) > 2:
            d2 = gaussian_filter1d(d2, w.soft_smoothing, axis=1, mode="nearest")
        soft_delta[:, evidence] = d1 + d2
        offsets[:, evidence] = soft_delta[:, evidence]
    # 2. Key frames (pins, drags) from there, exactly; their extra correction fades out over
    # `key_radius` frames into the evidence around them, so a pin bends the motion, not one frame.
    keys = np.flatnonzero(key)
    if len(keys):
        start = theta[:, keys] + soft_delta[:, keys]
        extra = solve(keys, start, w.kp2d, w2_entries, True, None)
        offsets[:, keys] = soft_delta[:, keys] + extra
        near = evidence[~key[evidence]]
        if len(near):
            points = {int(k): extra[:, i] for i, k in enumerate(keys)}
            for k in keys:
                for z in (k - w.key_radius, k + w.key_radius):
                    if 0 <= z < t and np.abs(keys - z).min() >= w.key_radius:
                        points.setdefault(int(z), np.zeros((s, PARAMS)))
            times = np.array(sorted(points))
            values = np.stack([points[int(z)] for z in times], axis=1)
            bump = (
                PchipInterpolator(times, values, axis=1, extrapolate=False)(near) if len(times) > 1 else None
            )
            if bump is not None:
                offsets[:, near] += np.nan_to_num(bump)
    known = ~np.isnan(offsets[0, :, 0])
    if known.all():
        full = offsets
    elif not known[free].any() and not known.any():
        full = np.zeros_like(offsets)
    else:
        times = np.flatnonzero(known)
        if len(times) == 1:
            full = np.repeat(offsets[:, times], t, axis=1)
        else:
            full = PchipInterpolator(times, offsets[:, times], axis=1, extrapolate=True)(np.arange(t))
            # Beyond the first / last known frame hold the value (no extrapolated drift).
            full[:, : times[0]] = offsets[:, times[:1]]
            full[:, times[-1] + 1 :] = offsets[:, times[-1:]]
    out = theta + full
    if interpolate_global and known.sum() >= 2:
        fill = gap_frames(known)
        projected = None
        if len(fill) and targets.kp3d is not None and w.gap_splines != "rotations":
            if w.gap_splines == "keypoints_learned":
                prior = gap_prior.keypoint_fill if gap_refiner is None else gap_refiner.fill
            else:
                prior = gap_prior.KEYPOINT_PRIORS[w.gap_splines]
            splined = prior(np.asarray(targets.kp3d, dtype=np.float64), obs3, fill)
            if splined is not None:
                # The hand fitted to the keypoint prior, from the model's motion plus its offsets.
                spline_t = np.zeros((t, 21, 3))
                spline_t[fill] = splined
                start = out[:, fill]
                projected = start + solve(
                    fill, start, w.kp2d, np.zeros((t, 21)), True, None, spline_t, np.ones((t, 21))
                )
        _spline_global(out, known, w.gap_fingers_decay, projected)
    out[:, locked] = fixed[:, locked]  # exact, not a float round trip
    out[:, ~editable] = fixed[:, ~editable]
    return out[..., :48], out[..., 48:]
