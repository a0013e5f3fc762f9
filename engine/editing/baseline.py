"""A real, non-learned infiller: interpolate keypoints, fit MANO, keep everything else.

`InterpolationInfiller` honours the same contract as the diffusion engine (engine/editing/request.py)
and is what the editor runs when no trained checkpoint is available. What it does:

1. Targets: 3D keypoints where kp3d is observed; 2D keypoints lifted into 3D through the camera
   (at the depth the previous motion had, or, without one, at the depth the palm's pixel size
   implies); the joints of locked MANO frames.
2. With a previous motion and a frame range (an edit): the frames of the range take those targets,
   unobserved ones interpolated linearly between the frames just outside the range; the change
   fades out over `margin` frames either side (a smooth falloff, so a one-frame drag bends the
   neighbouring frames too, with no pop at the edges). Frames outside the range plus margin are
   returned unchanged. Without a previous motion the whole clip is interpolated and fitted.
3. Fit MANO to the targets (engine/data/fitting.py), keeping the previous shape.
4. Locked frames (`mano_mask`) are copied back bit-exact.

Uncertainty is a model of interpolation, not a sample spread: `joints_std` grows like a Brownian
bridge with the distance to the nearest observed frame. The baseline is deterministic, so all its
`joints_samples` are the same motion.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from engine.editing.request import CancelFn, InfillCancelled, InfillRequest, InfillResult, ProgressFn
from engine.errors import UniHandError
from engine.hand.skeleton import NUM_KEYPOINTS
from engine.motion.types import Conditions, HandMotion

# Keypoint pairs rigid with the palm, used to judge depth from the palm's size in pixels.
_PALM_BONES = ((0, 5), (0, 9), (0, 13), (0, 17), (5, 17))
_STEPS = 3  # progress steps: targets, fit, compose


class InfillError(UniHandError, ValueError):
    """The conditions give too little to infill from; the message says what is missing."""


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _interpolate(values: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per joint, fill unknown frames linearly between known ones (held beyond the ends).

    values (T,J,C), known (T,J) -> filled values and the (T,J) mask of joints that had any anchor."""
    out = values.copy()
    frames = np.arange(len(values))
    any_known = known.any(axis=0)
    for j in np.flatnonzero(any_known):
        k = known[:, j]
        for c in range(values.shape[-1]):
            out[:, j, c] = np.interp(frames, frames[k], values[k, j, c])
    return out, np.broadcast_to(any_known, known.shape).copy()


def bridge_std(observed: np.ndarray, scale: float = 0.003) -> np.ndarray:
    """(T,J) spread of an interpolation between observed frames, metres: `scale` * sqrt of the
    Brownian-bridge variance in frames (0 on observed frames; growing with distance from them)."""
    t, j = observed.shape
    idx = np.arange(t)[:, None].repeat(j, axis=1).astype(np.float64)
    last = np.where(observed, idx, np.nan)
    prev_seen = np.fmax.accumulate(np.nan_to_num(last, nan=-np.inf), axis=0)
    next_seen = np.flip(np.fmin.accumulate(np.flip(np.nan_to_num(last, nan=np.inf), 0), axis=0), 0)
    d1 = idx - prev_seen
    d2 = next_seen - idx
    both = np.isfinite(d1) & np.isfinite(d2)
    var = np.where(both, d1 * d2 / np.maximum(d1 + d2, 1.0), np.fmin(d1, d2))
    var = np.where(np.isfinite(var), var, float(t))  # a joint never observed
    return scale * np.sqrt(var)


class InterpolationInfiller:
    """See the module docstring. `margin`: frames either side of an edit that may change."""

    name = "interpolation baseline"

    def __init__(
        self,
        margin: int = 8,
        hand_model: str = "default",
        device: str | None = None,
        fit_iterations: int = 40,
        edit_iterations: int = 24,
    ) -> None:
        self.margin = int(margin)
        # L-BFGS iterations: a whole clip, and an edit (a short window close to its previous motion).
        self.fit_iterations = int(fit_iterations)
        self.edit_iterations = int(edit_iterations)
        self.hand_model = hand_model
        self.device = "cpu"  # fitting is small and runs on the CPU
        self._models: dict[tuple[str, str], object] = {}

    def model(self, name: str, side: str):
        """The float64 hand model of `name`/`side`, created once and kept warm."""
        key = (name, side)
        if key not in self._models:
            import torch

            from engine.hand import create_hand_model

            self._models[key] = create_hand_model(name, side, dtype=torch.float64)
        return self._models[key]

    def keypoints(
        self,
        motion_params: tuple[np.ndarray, np.ndarray, np.ndarray],
        betas: np.ndarray,
        name: str,
        side: str,
    ) -> np.ndarray:
        """MP21 keypoints (T,21,3) of (global_orient, hand_pose, transl) through forward kinematics."""
        import torch

        model = self.model(name, side)
        orient, pose, transl = (torch.as_tensor(a, dtype=torch.float64) for a in motion_params)
        with torch.no_grad():
            _, kp = model.forward_keypoints(
                pose, orient, torch.as_tensor(betas, dtype=torch.float64)[None], transl
            )
        return kp.numpy()

    # ----------------------------------------------------------------- the contract

    def __call__(
        self,
        request: InfillRequest,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> InfillResult:
        start_time = time.perf_counter()

        def step(k: int) -> None:
            if should_cancel is not None and should_cancel():
                raise InfillCancelled(f"cancelled after step {k} of {_STEPS}")
            if progress is not None:
                progress(k, _STEPS, None)

        cond = request.conditions
        prev = request.previous
        t = cond.num_frames
        name = prev.hand_model if prev is not None else self.hand_model
        side = cond.handedness
        if prev is not None and request.frames is not None:
            core = request.frames
            window = (max(0, core[0] - self.margin), min(t, core[1] + self.margin))
        else:
            core = window = (0, t)
        step(0)
        targets, known = self._observed_targets(cond, prev, name)
        if prev is not None and request.frames is not None:
            targets, known, fade = self._edit_targets(targets, known, prev, core, window)
        else:
            if not known.any():
                raise InfillError(
                    "the conditions observe nothing (no kp2d, kp3d or locked frame) to infill from"
                )
            targets, known = _interpolate(targets, known)
            fade = np.ones(t)
        step(1)
        lo, hi = window
        from engine.data.fitting import FitConfig, FitError, fit_keypoints

        config = FitConfig(iterations=self.fit_iterations, polish_iterations=0)
        if prev is not None and request.frames is not None:
            # Every target of an edit is meant (drags, pins): fit them nearly least-squares, not robustly.
            config = replace(config, robust_scale=0.2, iterations=self.edit_iterations)
        try:
            fit = fit_keypoints(
                targets[lo:hi],
                known[lo:hi],
                fps=cond.fps,
                handedness=side,
                hand_model=name,
                config=config,
                betas=None if prev is None else prev.betas,
            ).motion
        except FitError as exc:
            raise InfillError(f"frames {lo}-{hi - 1}: {exc}") from exc
        step(2)
        orient, pose, transl = self._compose(fit, prev, cond, window, fade)
        betas = fit.betas if prev is None else prev.betas
        joints = prev.joints.copy() if prev is not None else np.zeros((t, NUM_KEYPOINTS, 3))
        joints[lo:hi] = self.keypoints((orient[lo:hi], pose[lo:hi], transl[lo:hi]), betas, name, side)
        observed = self._observed_mask(cond)
        std = bridge_std(observed)
        motion = HandMotion(
            fps=cond.fps,
            handedness=side,
            hand_model=name,
            global_orient=orient,
            hand_pose=pose,
            transl=transl,
            betas=betas,
            joints=joints,
            joints_samples=np.repeat(joints[None], request.samples, axis=0),
            joints_std=std,
        )
        step(3)
        return InfillResult(motion=motion, changed=window, seconds=time.perf_counter() - start_time)

    # ----------------------------------------------------------------- pieces

    @staticmethod
    def _observed_mask(cond: Conditions) -> np.ndarray:
        observed = np.zeros((cond.num_frames, NUM_KEYPOINTS), dtype=bool)
        for channel in ("kp3d", "kp2d"):
            mask = cond.mask(channel)
            if mask is not None:
                observed |= mask
        if cond.has("mano"):
            observed |= cond.mano_mask[:, None]
        return observed

    def _observed_targets(
        self, cond: Conditions, prev: HandMotion | None, name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """(T,21,3) 3D targets in camera space and the (T,21) mask of those the conditions give."""
        t = cond.num_frames
        targets = np.zeros((t, NUM_KEYPOINTS, 3))
        known = np.zeros((t, NUM_KEYPOINTS), dtype=bool)
        if cond.has("kp2d"):
            camera = cond.camera()
            depth = prev.joints[..., 2] if prev is not None else self._depth_from_palm(cond, name)
            lifted = camera.unproject(np.where(cond.kp2d_mask[..., None], cond.kp2d, 0.0), depth)
            targets = np.where(cond.kp2d_mask[..., None], lifted, targets)
            known |= cond.kp2d_mask
        if cond.has("kp3d"):  # 3D observations win over lifted 2D ones
            targets = np.where(cond.kp3d_mask[..., None], np.nan_to_num(cond.kp3d), targets)
            known |= cond.kp3d_mask
        if cond.has("mano") and cond.mano_mask.any():
            frames = np.flatnonzero(cond.mano_mask)
            params = (cond.mano_pose[frames, :3], cond.mano_pose[frames, 3:], cond.mano_transl[frames])
            targets[frames] = self.keypoints(params, cond.mano_betas, name, cond.handedness)
            known[frames] = True
        return targets, known

    def _depth_from_palm(self, cond: Conditions, name: str) -> np.ndarray:
        """(T,21) depth per keypoint from how large the palm looks: z = f * metres / pixels."""
        rest = self.keypoints(
            (np.zeros((1, 3)), np.zeros((1, 45)), np.zeros((1, 3))), np.zeros(10), name, "right"
        )[0]
        focal = float(cond.camera().K[0, 0])
        uv, mask = cond.kp2d, cond.kp2d_mask
        metres = np.zeros(cond.num_frames)
        pixels = np.zeros(cond.num_frames)
        for a, b in _PALM_BONES:
            both = mask[:, a] & mask[:, b]
            metres += np.where(both, np.linalg.norm(rest[a] - rest[b]), 0.0)
            pixels += np.where(both, np.linalg.norm(np.nan_to_num(uv[:, a] - uv[:, b]), axis=-1), 0.0)
        seen = pixels > 1.0
        if not seen.any():
            raise InfillError("kp2d: no frame shows the palm (wrist and knuckles), so its depth is unknown")
        z = np.full(cond.num_frames, np.nan)
        z[seen] = focal * metres[seen] / pixels[seen]
        frames = np.arange(cond.num_frames)
        z = np.interp(frames, frames[seen], z[seen])
        return np.repeat(z[:, None], NUM_KEYPOINTS, axis=1)

    def _edit_targets(
        self,
        targets: np.ndarray,
        known: np.ndarray,
        prev: HandMotion,
        core: tuple[int, int],
        window: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Targets for an edit of `core`: conditions inside it, interpolated where unobserved between
        the previous motion just outside, and the change faded into the margins."""
        s, e = core
        lo, hi = window
        t = len(targets)
        out = prev.joints.copy()
        anchors = np.zeros(known.shape, dtype=bool)
        anchors[s:e] = known[s:e]
        values = np.where(anchors[..., None], targets, prev.joints)
        for frame in (s - 1, e):  # the untouched neighbours hold the ends of an unobserved range
            if 0 <= frame < t:
                anchors[frame] = True
        filled, _ = _interpolate(values, anchors)
        out[s:e] = filled[s:e]
        fade = np.zeros(t)
        fade[s:e] = 1.0
        if s > lo:
            ramp = _smoothstep((np.arange(lo, s) - lo + 1) / (s - lo + 1))
            fade[lo:s] = ramp
            out[lo:s] = prev.joints[lo:s] + ramp[:, None, None] * (out[s] - prev.joints[s])[None]
        if hi > e:
            ramp = _smoothstep((hi - np.arange(e, hi)) / (hi - e + 1))
            fade[e:hi] = ramp
            out[e:hi] = prev.joints[e:hi] + ramp[:, None, None] * (out[e - 1] - prev.joints[e - 1])[None]
        return out, np.ones(known.shape, dtype=bool), fade

    @staticmethod
    def _compose(
        fit: HandMotion,
        prev: HandMotion | None,
        cond: Conditions,
        window: tuple[int, int],
        fade: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fitted parameters on the window (faded into the previous motion), locked frames exact."""
        lo, hi = window
        if prev is None:
            orient, pose, transl = fit.global_orient.copy(), fit.hand_pose.copy(), fit.transl.copy()
        else:
            w = fade[lo:hi, None]
            orient, pose, transl = prev.global_orient.copy(), prev.hand_pose.copy(), prev.transl.copy()
            orient[lo:hi] = prev.global_orient[lo:hi] + w * (fit.global_orient - prev.global_orient[lo:hi])
            pose[lo:hi] = prev.hand_pose[lo:hi] + w * (fit.hand_pose - prev.hand_pose[lo:hi])
            transl[lo:hi] = prev.transl[lo:hi] + w * (fit.transl - prev.transl[lo:hi])
        if cond.has("mano"):
            locked = cond.mano_mask.copy()
            locked[:lo] = False
            locked[hi:] = False
            orient[locked] = cond.mano_pose[locked, :3]
            pose[locked] = cond.mano_pose[locked, 3:]
            transl[locked] = cond.mano_transl[locked]
        return orient, pose, transl
