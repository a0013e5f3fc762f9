"""Frame-rate conversion at the engine's boundary (the model runs at 30 fps; DESIGN.md section 2).

Timing: frame i of a sequence at `fps` is at time i / fps, so the first frames of the input and
output coincide. Values at an output time come from the two input frames that bracket it:

- positions and keypoints (transl, joints, kp3d, kp2d, ...): linear interpolation in time, which
  is exact for constant-velocity motion;
- rotations (axis-angle per joint): slerp along the shorter arc;
- an output time that coincides with an input frame (to 1e-6 frame) copies that frame bit for
  bit, so 30 -> 60 -> 30 fps returns the original exactly;
- condition masks: an output entry is observed only if it coincides with an observed input entry
  or both bracketing input entries are observed. Unobserved outputs hold 0; values under false
  input masks (NaN included) are never read.

Frame count: by default the output keeps the times that lie within the input's span,
``floor((T - 1) * fps_out / fps_in + 1e-6) + 1`` frames, so nothing is extrapolated; this can end
up to one output period short of the last input frame. Pass `num_frames` to choose the count
(`covering_num_frames` gives the smallest count that reaches the last input frame); output times
past the input's end hold the last frame for motions and are unobserved for conditions. The
boundary pattern is: ``c30 = resample_conditions(c, 30, covering_num_frames(...))``, run the
model, then ``resample_motion(m30, c.fps, num_frames=c.num_frames)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.motion.types import Conditions, HandMotion

_SNAP = 1e-6  # frames: closer than this to an input frame counts as that frame


@dataclass(frozen=True)
class _Plan:
    lo: np.ndarray  # (M,) input frame at or before each output time
    hi: np.ndarray  # (M,) input frame after it (== lo at the end)
    weight: np.ndarray  # (M,) interpolation weight of `hi`, in [0, 1)
    exact: np.ndarray  # (M,) output coincides with input frame `lo`
    inside: np.ndarray  # (M,) output time within the input's span


def _check_rate(fps: float, name: str) -> float:
    value = float(fps)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite frame rate, got {fps!r}")
    return value


def _default_count(num_frames: int, fps_in: float, fps_out: float) -> int:
    return math.floor((num_frames - 1) * fps_out / fps_in + _SNAP) + 1


def covering_num_frames(num_frames: int, fps_in: float, fps_out: float) -> int:
    """Smallest output frame count at `fps_out` whose last frame is at or after the input's last."""
    fps_in, fps_out = _check_rate(fps_in, "fps_in"), _check_rate(fps_out, "fps_out")
    return max(1, math.ceil((num_frames - 1) * fps_out / fps_in - _SNAP) + 1)


def resample_times(num_frames: int, fps_in: float, fps_out: float, num_out: int | None = None) -> np.ndarray:
    """Output timestamps in seconds (``i / fps_out``) for `num_frames` input frames at `fps_in`.

    The count is `num_out` if given, else ``floor((num_frames - 1) * fps_out / fps_in + 1e-6) + 1``
    (every output time within the input's span; see the module docstring).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    fps_in, fps_out = _check_rate(fps_in, "fps_in"), _check_rate(fps_out, "fps_out")
    count = _default_count(num_frames, fps_in, fps_out) if num_out is None else int(num_out)
    if count < 1:
        raise ValueError(f"the output frame count must be >= 1, got {count}")
    return np.arange(count) / fps_out


def _plan(num_frames: int, fps_in: float, fps_out: float, num_out: int | None) -> _Plan:
    count = len(resample_times(num_frames, fps_in, fps_out, num_out))
    # Position in input frames; i * fps_in / fps_out keeps integer ratios (30 <-> 60) exact.
    u = np.arange(count) * fps_in / fps_out
    nearest = np.rint(u)
    exact = np.abs(u - nearest) <= _SNAP
    last = num_frames - 1
    inside = u <= last + _SNAP
    lo = np.where(exact, nearest, np.floor(u))
    weight = np.where(exact, 0.0, u - lo)
    # Past the end: hold the last frame (conditions additionally mark these unobserved).
    lo = np.where(inside, lo, last).astype(np.int64)
    weight = np.where(inside, weight, 0.0)
    exact = exact | ~inside
    hi = np.minimum(lo + 1, last)
    return _Plan(lo=lo, hi=hi, weight=weight, exact=exact, inside=inside)


def _lerp(x: np.ndarray, plan: _Plan, axis: int = 0) -> np.ndarray:
    """Linear interpolation of `x` along its frame `axis`; coinciding frames are copied exactly."""
    x = np.moveaxis(x, axis, 0)
    w = plan.weight.reshape(-1, *([1] * (x.ndim - 1)))
    out = x[plan.lo] * (1.0 - w) + x[plan.hi] * w
    out[plan.exact] = x[plan.lo[plan.exact]]
    return np.moveaxis(out, 0, axis)


def _slerp(rotvecs: np.ndarray, plan: _Plan) -> np.ndarray:
    """Slerp of (T, J*3) axis-angle rotations; coinciding frames are copied exactly."""
    out = rotvecs[plan.lo].copy()
    todo = np.flatnonzero(~plan.exact)
    if todo.size:
        import torch  # only needed when frames fall between input frames

        from engine.motion.rotations import axis_angle_slerp

        shape = (todo.size, -1, 3)
        r0 = torch.from_numpy(rotvecs[plan.lo[todo]].reshape(shape))
        r1 = torch.from_numpy(rotvecs[plan.hi[todo]].reshape(shape))
        weight = torch.from_numpy(plan.weight[todo])[:, None].expand(r0.shape[:2])
        out[todo] = axis_angle_slerp(r0, r1, weight).numpy().reshape(todo.size, -1)
    return out


def resample_motion(motion: HandMotion, fps_out: float, num_frames: int | None = None) -> HandMotion:
    """`motion` at `fps_out` (see the module docstring for timing, count and interpolation)."""
    fps_out = _check_rate(fps_out, "fps_out")
    plan = _plan(motion.num_frames, motion.fps, fps_out, num_frames)
    samples = motion.joints_samples
    return motion.replace(
        fps=fps_out,
        global_orient=_slerp(np.array(motion.global_orient), plan),
        hand_pose=_slerp(np.array(motion.hand_pose), plan),
        transl=_lerp(motion.transl, plan),
        joints=_lerp(motion.joints, plan),
        joints_samples=None if samples is None else _lerp(samples, plan, axis=1),
        # Linear interpolation of a spread is an approximation; it is only shown, never sampled from.
        joints_std=None if motion.joints_std is None else _lerp(motion.joints_std, plan),
    )


def _resample_mask(mask: np.ndarray, plan: _Plan) -> np.ndarray:
    exact = plan.exact.reshape(-1, *([1] * (mask.ndim - 1)))
    inside = plan.inside.reshape(exact.shape)
    both = mask[plan.lo] & mask[plan.hi]
    return np.where(exact, mask[plan.lo], both) & inside


def _masked(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`data` with entries under a false mask set to 0, so NaN there cannot reach any output."""
    m = mask.reshape(*mask.shape, *([1] * (data.ndim - mask.ndim)))
    return np.where(m, data, 0.0)


def _resample_channel(data: np.ndarray, out_mask: np.ndarray, values: np.ndarray, plan: _Plan) -> np.ndarray:
    """Interpolated `values` where observed, 0 where not; coinciding frames copy `data` as is."""
    out = _masked(values, out_mask)
    # Copying raw frames (NaN under false masks included) keeps round trips exact.
    out[plan.exact] = data[plan.lo[plan.exact]]
    return out


def resample_conditions(cond: Conditions, fps_out: float, num_frames: int | None = None) -> Conditions:
    """`cond` at `fps_out`; masks follow the rule in the module docstring."""
    fps_out = _check_rate(fps_out, "fps_out")
    plan = _plan(cond.num_frames, cond.fps, fps_out, num_frames)
    changes: dict[str, object] = {"fps": fps_out, "num_frames": len(plan.lo)}
    for key in ("kp3d", "kp2d"):
        data, mask = getattr(cond, key), getattr(cond, f"{key}_mask")
        if data is not None:
            out_mask = _resample_mask(mask, plan)
            values = _lerp(_masked(data, mask), plan)
            changes[key] = _resample_channel(data, out_mask, values, plan)
            changes[f"{key}_mask"] = out_mask
    if cond.mano_pose is not None:
        mask = cond.mano_mask
        out_mask = _resample_mask(mask, plan)
        pose = _slerp(_masked(cond.mano_pose, mask), plan)
        transl = _lerp(_masked(cond.mano_transl, mask), plan)
        changes["mano_pose"] = _resample_channel(cond.mano_pose, out_mask, pose, plan)
        changes["mano_transl"] = _resample_channel(cond.mano_transl, out_mask, transl, plan)
        changes["mano_mask"] = out_mask
    return cond.replace(**changes)
