"""Procedural but plausible hand motion for pretraining and tests (issue 4, part 3).

Each sequence composes keyframes of anatomical finger angles (flexion, abduction, twist per joint,
engine/hand/joint_limits.py) and wrist poses, joined by minimum-jerk segments (the smooth, bell-
shaped velocity profile of human point-to-point movement, Flash & Hogan 1985). Physiological
touches on top: the DIP follows the PIP (tendon coupling), neighbouring fingers partly follow a
curling finger, fingers start a few frames apart, and a little smooth noise. Keyframe angles are
clipped into the joint limits; minimum-jerk interpolation is a convex blend of two keyframes, so
every frame stays inside them. Touching poses (pinches, the OK sign, thumb-to-finger taps) are
solved per hand shape so that the tips really meet.

Sequences live in a world frame with z up (the synthetic body faces +x); a virtual camera is
placed by `engine.data.cameras.sample_camera_track`. Everything is drawn from one
`numpy.random.Generator(PCG64(seed))`, so a seed gives the same arrays on every run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from engine.data.cameras import CameraTrack, sample_camera_track
from engine.hand import create_hand_model
from engine.hand.joint_limits import JOINT_LIMITS_RAD, AnatomicalFrames, anatomical_to_pose, clamp_pose
from engine.hand.model import HandModel
from engine.hand.skeleton import MANO_FINGER_JOINTS, NUM_BETAS, NUM_FINGER_JOINTS
from engine.motion.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from engine.motion.types import HandMotion

FPS = 30.0
SEQUENCE_KINDS: tuple[str, ...] = (
    "grasp_release",
    "pinch",
    "point",
    "count",
    "wave",
    "finger_tap",
    "sign",
    "idle",
)
LONG_FINGERS: tuple[str, ...] = ("index", "middle", "ring", "pinky")
# MP21 tip index per finger.
TIP_MP21 = {"thumb": 4, "index": 8, "middle": 12, "ring": 16, "pinky": 20}
_MARGIN = np.radians(1.0)  # keyframes stay this far inside the limits, so noise has room


@dataclass
class SyntheticSequence:
    """One generated sequence: world-frame motion, the camera that films it, and what it shows."""

    motion: HandMotion
    camera: CameraTrack
    kind: str
    seed: int
    # Frame intervals [start, end) where a named hand shape is held (e.g. "pinch:index",
    # "count_3:index,middle,ring") and the frames where the wrist is at a keyframe (zero velocity).
    holds: list[tuple[int, int, str]] = field(default_factory=list)
    wrist_key_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


# --------------------------------------------------------------------------- hand model cache

_CACHE: dict[str, tuple[HandModel, AnatomicalFrames, torch.Tensor]] = {}
_LOCK = threading.Lock()


def hand_model_for(name: str = "default") -> tuple[HandModel, AnatomicalFrames]:
    """The right-hand model (float64) and its anatomical frames, built once per process."""
    with _LOCK:
        if name not in _CACHE:
            model = create_hand_model(name, "right", dtype=torch.float64)
            frames = AnatomicalFrames.from_hand(model.data)
            bases = torch.as_tensor(frames.bases, dtype=torch.float64)
            _CACHE[name] = (model, frames, bases)
        model, frames, _ = _CACHE[name]
    return model, frames


def _bases(name: str) -> torch.Tensor:
    hand_model_for(name)
    return _CACHE[name][2]


# --------------------------------------------------------------------------- minimum jerk


def minimum_jerk_weight(s: np.ndarray) -> np.ndarray:
    """10s^3 - 15s^4 + 6s^5 on [0, 1]: zero velocity and acceleration at both ends."""
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s**2)


def minimum_jerk_interpolate(key_times: np.ndarray, key_values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Values (T, ...) at `times` from keyframes (K,) / (K, ...) joined by minimum-jerk segments.

    Before the first and after the last key time the first/last value is held. Key times must be
    non-decreasing; a zero-length segment jumps (callers never create one).
    """
    key_times = np.asarray(key_times, dtype=np.float64)
    key_values = np.asarray(key_values, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if len(key_times) == 1:
        return np.broadcast_to(key_values[0], (len(times), *key_values.shape[1:])).copy()
    seg = np.clip(np.searchsorted(key_times, times, side="right") - 1, 0, len(key_times) - 2)
    t0, t1 = key_times[seg], key_times[seg + 1]
    s = np.where(t1 > t0, (times - t0) / np.maximum(t1 - t0, 1e-9), 1.0)
    w = minimum_jerk_weight(s).reshape(-1, *([1] * (key_values.ndim - 1)))
    return key_values[seg] + (key_values[seg + 1] - key_values[seg]) * w


def smooth_noise(rng: np.random.Generator, num_frames: int, dims: int, sigma_frames: float) -> np.ndarray:
    """(T, dims) Gaussian-filtered noise with unit standard deviation: slow, smooth drift."""
    pad = int(3 * sigma_frames) + 1
    raw = rng.standard_normal((num_frames + 2 * pad, dims))
    smooth = gaussian_filter1d(raw, sigma_frames, axis=0, mode="reflect")[pad : pad + num_frames]
    return smooth / (smooth.std(axis=0, keepdims=True) + 1e-9)


# --------------------------------------------------------------------------- hand shapes

_DEG = np.pi / 180.0
# Thumb (CMC, MCP, IP) x (flexion, abduction, twist) in degrees, checked by eye on the default hand.
THUMB_STATES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "rest": ((8, 8, 0), (10, 0, 0), (12, 0, 0)),
    "side": ((0, 0, 0), (5, 0, 0), (5, 0, 0)),
    "out": ((-20, 35, 0), (0, 0, 0), (5, 0, 0)),
    "up": ((-5, 15, 0), (0, 0, 0), (0, 0, 0)),
    "fist": ((20, -30, 0), (50, 0, 0), (45, 0, 0)),
    "fold": ((45, -25, 0), (45, 0, 0), (35, 0, 0)),
    "oppose": ((35, -25, 0), (20, 0, 0), (15, 0, 0)),
}
# Neighbour coupling: how much finger a's flexion is pulled towards a more-curled neighbour b.
_FOLLOW = {
    ("index", "middle"): 0.08,
    ("middle", "index"): 0.1,
    ("middle", "ring"): 0.15,
    ("ring", "middle"): 0.15,
    ("ring", "pinky"): 0.2,
    ("pinky", "ring"): 0.25,
}
FingerSpec = float | tuple[float, float]


@dataclass(frozen=True)
class Shape:
    """A hand shape: per long finger a curl in [0, 1] or (MCP, PIP) flexion in degrees, a thumb state."""

    fingers: tuple[FingerSpec, FingerSpec, FingerSpec, FingerSpec]
    thumb: str = "rest"
    spread: float = 0.3  # 0 fingers together .. 1 fully spread (scaled down when curled)
    touch: str | None = None  # a long finger whose tip the thumb tip must meet

    @property
    def curls(self) -> np.ndarray:
        out = []
        for spec in self.fingers:
            if isinstance(spec, tuple):
                out.append(np.clip((spec[0] / 85.0 + spec[1] / 100.0) / 2.0, 0.0, 1.0))
            else:
                out.append(float(spec))
        return np.asarray(out)


SHAPES: dict[str, Shape] = {
    "relaxed": Shape((0.15, 0.2, 0.25, 0.3), "rest", 0.3),
    "flat": Shape((0.0, 0.0, 0.0, 0.0), "side", 0.1),
    "spread": Shape((0.0, 0.0, 0.0, 0.0), "out", 1.0),
    "fist": Shape((1.0, 1.0, 1.0, 1.0), "fist", 0.0),
    "point": Shape((0.0, 1.0, 1.0, 1.0), "fist", 0.0),
    "v": Shape((0.0, 0.0, 1.0, 1.0), "fold", 0.9),
    "three": Shape((0.0, 0.0, 0.0, 1.0), "fold", 0.5),
    "four": Shape((0.0, 0.0, 0.0, 0.0), "fold", 0.5),
    "l": Shape((0.0, 1.0, 1.0, 1.0), "out", 0.0),
    "y": Shape((1.0, 1.0, 1.0, 0.0), "out", 0.3),
    "i": Shape((1.0, 1.0, 1.0, 0.0), "fist", 0.0),
    "horns": Shape((0.0, 1.0, 1.0, 0.0), "fist", 0.6),
    "thumbs_up": Shape((1.0, 1.0, 1.0, 1.0), "up", 0.0),
    "c": Shape(((35, 45), (35, 45), (35, 45), (35, 45)), "oppose", 0.1),
    "claw": Shape(((5, 90), (5, 90), (5, 90), (5, 90)), "out", 0.6),
    "bent": Shape(((80, 0), (80, 0), (80, 0), (80, 0)), "side", 0.0),
    "ok": Shape(((45, 45), 0.05, 0.1, 0.15), "oppose", 0.4, touch="index"),
    "o": Shape(((50, 50), (50, 55), (45, 55), (45, 55)), "oppose", 0.0, touch="index"),
}
SIGN_SHAPES = ("flat", "spread", "fist", "point", "v", "three", "four", "l", "y", "i", "horns")
SIGN_SHAPES += ("thumbs_up", "c", "claw", "bent", "ok", "o")


@dataclass
class _Style:
    """Per-sequence habits of the virtual performer."""

    dip_ratio: float
    finger_delay: dict[str, int]
    tempo: float  # >1 slower
    jitter_deg: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> _Style:
        delays = {f: int(rng.integers(0, 3)) for f in ("thumb", *LONG_FINGERS)}
        return cls(
            dip_ratio=float(rng.uniform(0.6, 0.8)),
            finger_delay=delays,
            tempo=float(rng.uniform(0.8, 1.3)),
            jitter_deg=float(rng.uniform(1.0, 4.0)),
        )


def shape_angles(shape: Shape, style: _Style, rng: np.random.Generator) -> np.ndarray:
    """(15, 3) anatomical angles (radians) of a shape with coupling and a little jitter, in limits."""
    angles = np.zeros((NUM_FINGER_JOINTS, 3))
    curls = shape.curls
    # Neighbours follow a curling finger (shared flexor muscle bellies, intertendinous bands).
    pulled = curls.copy()
    for (a, b), k in _FOLLOW.items():
        ia, ib = LONG_FINGERS.index(a), LONG_FINGERS.index(b)
        pulled[ia] += k * max(0.0, curls[ib] - curls[ia])
    spread_deg = {"index": 12.0, "middle": 0.0, "ring": -10.0, "pinky": -20.0}
    jit = style.jitter_deg
    for i, finger in enumerate(LONG_FINGERS):
        spec = shape.fingers[i]
        extra = pulled[i] - curls[i]
        if isinstance(spec, tuple):
            mcp, pip = spec[0] + 85.0 * extra, spec[1] + 100.0 * extra
        else:
            c = pulled[i]
            mcp, pip = 85.0 * c, 100.0 * c
        mcp += rng.normal(0.0, jit)
        pip += rng.normal(0.0, jit)
        pip = max(pip, 0.0)
        dip = style.dip_ratio * pip + rng.normal(0.0, 0.5 * jit)
        # Curled fingers adduct; otherwise they would cross over each other.
        abd = shape.spread * spread_deg[finger] * (1.0 - min(curls[i], 1.0)) + rng.normal(0.0, 0.5 * jit)
        j1, j2, j3 = MANO_FINGER_JOINTS[finger]
        angles[j1 - 1] = (mcp * _DEG, abd * _DEG, rng.normal(0.0, 0.5 * jit) * _DEG)
        angles[j2 - 1, 0] = pip * _DEG
        angles[j3 - 1, 0] = dip * _DEG
    for j, values in zip(MANO_FINGER_JOINTS["thumb"], THUMB_STATES[shape.thumb], strict=True):
        angles[j - 1] = np.radians(values) + rng.normal(0.0, jit, 3) * _DEG * np.array([1.0, 1.0, 0.5])
    return clip_angles(angles)


def clip_angles(angles: np.ndarray, margin: float = _MARGIN) -> np.ndarray:
    """Clip (..., 15, 3) anatomical angles into the joint limits, `margin` radians inside."""
    return np.clip(angles, JOINT_LIMITS_RAD[..., 0] + margin, JOINT_LIMITS_RAD[..., 1] - margin)


# --------------------------------------------------------------------------- touching tips


def _angles_to_pose_torch(angles: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """(B, 15, 3) anatomical angles -> (B, 45) axis-angle; differentiable twin of anatomical_to_pose."""
    eye = torch.eye(3, dtype=angles.dtype)
    rx = axis_angle_to_matrix(angles[..., 0:1] * eye[0])
    ry = axis_angle_to_matrix(angles[..., 1:2] * eye[1])
    rz = axis_angle_to_matrix(angles[..., 2:3] * eye[2])
    local = rx @ ry @ rz  # intrinsic X-Y-Z, as scipy's "XYZ"
    mats = bases @ local @ bases.transpose(-1, -2)
    return matrix_to_axis_angle(mats).reshape(angles.shape[0], -1)


def solve_touches(
    angles: np.ndarray,
    touches: list[str],
    betas: np.ndarray,
    hand_model: str = "default",
    gap: float = 0.008,
    start: np.ndarray | None = None,
    iterations: int = 70,
) -> np.ndarray:
    """Adjust thumb and touched-finger angles (B,15,3) so the thumb tip meets that finger's tip.

    Tip keypoints are surface points at the very end of each finger; `gap` metres between them
    leaves the pads in contact instead of pushing one nail through the other finger.
    """
    if not touches:
        return angles
    model, _ = hand_model_for(hand_model)
    bases = _bases(hand_model)
    batch = len(touches)
    init = torch.as_tensor(angles, dtype=torch.float64)
    free = torch.zeros_like(init, dtype=torch.bool)
    finger_tip = []
    for b, finger in enumerate(touches):
        for j in MANO_FINGER_JOINTS["thumb"]:
            free[b, j - 1] = True
        j1, j2, j3 = MANO_FINGER_JOINTS[finger]
        free[b, j1 - 1, :2] = True
        free[b, j2 - 1, 0] = True
        free[b, j3 - 1, 0] = True
        finger_tip.append(TIP_MP21[finger])
    lo = torch.as_tensor(JOINT_LIMITS_RAD[..., 0] + 2 * _MARGIN)
    hi = torch.as_tensor(JOINT_LIMITS_RAD[..., 1] - 2 * _MARGIN)
    delta = (torch.zeros_like(init) if start is None else torch.as_tensor(start) * free).requires_grad_(True)
    optim = torch.optim.Adam([delta], lr=0.05)
    beta_t = torch.as_tensor(betas, dtype=torch.float64)[None]
    zeros = torch.zeros(batch, 3, dtype=torch.float64)
    rows = torch.arange(batch)
    tips = torch.as_tensor(finger_tip)
    # Tiny batches: thread hand-offs cost more than they save (4x slower on 2 busy cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(iterations):
            optim.zero_grad()
            current = torch.minimum(torch.maximum(init + delta * free, lo), hi)
            _, kp = model.forward_keypoints(_angles_to_pose_torch(current, bases), zeros, beta_t, zeros)
            dist = torch.linalg.norm(kp[rows, 4] - kp[rows, tips], dim=-1)
            loss = ((dist - gap).clamp(min=0.0) ** 2).sum() * 1e4 + 1e-3 * (delta**2).sum()
            loss.backward()
            optim.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        out = torch.minimum(torch.maximum(init + delta * free, lo), hi)
    return clip_angles(out.numpy().copy())


_TOUCH_PRIORS: dict[tuple[str, Shape], np.ndarray] = {}


def _touch_prior(shape: Shape, hand_model: str) -> np.ndarray:
    """(15,3) angle change that closes `shape`'s touch on the mean hand, solved once per process."""
    key = (hand_model, shape)
    with _LOCK:
        cached = _TOUCH_PRIORS.get(key)
    if cached is None:
        nominal = _Style(0.7, {}, 1.0, 0.0)
        angles = shape_angles(shape, nominal, np.random.Generator(np.random.PCG64(0)))
        assert shape.touch is not None
        solved = solve_touches(angles[None], [shape.touch], np.zeros(NUM_BETAS), hand_model, iterations=120)
        cached = solved[0] - angles
        with _LOCK:
            _TOUCH_PRIORS[key] = cached
    return cached


# --------------------------------------------------------------------------- plans


@dataclass
class _Plan:
    """Keyframes in frames: finger shapes, wrist offsets (position, local rotation), holds."""

    shape_times: list[float] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    wrist_times: list[float] = field(default_factory=list)
    wrist_pos: list[np.ndarray] = field(default_factory=list)
    wrist_rot: list[np.ndarray] = field(default_factory=list)
    holds: list[tuple[float, float, str]] = field(default_factory=list)
    roll_deg: tuple[float, float] = (-30.0, 150.0)
    pitch_deg: tuple[float, float] = (-20.0, 40.0)
    idle_noise: float = 0.0  # scale of finger/wrist drift
    max_speed: float = 1.0  # m/s, peak wrist speed of a segment
    max_turn: float = 3.0  # rad/s, peak rotation speed of a segment

    def shape(self, t: float, shape: Shape) -> None:
        self.shape_times.append(float(t))
        self.shapes.append(shape)

    def wrist(self, t: float, pos: np.ndarray, rot: np.ndarray) -> None:
        """Add a wrist keyframe; a move too fast for its duration is shortened, never sped up."""
        pos, rot = np.asarray(pos, dtype=np.float64), np.asarray(rot, dtype=np.float64)
        if self.wrist_times:
            dt = max(float(t) - self.wrist_times[-1], 0.0) / FPS
            # A minimum-jerk segment peaks at 1.875 x its mean speed.
            for limit, values, new in (
                (self.max_speed, self.wrist_pos, "pos"),
                (self.max_turn, self.wrist_rot, "rot"),
            ):
                prev = values[-1]
                step = (pos if new == "pos" else rot) - prev
                allowed = limit * dt / 1.875
                norm = float(np.linalg.norm(step))
                if norm > allowed:
                    step = step * (allowed / norm)
                if new == "pos":
                    pos = prev + step
                else:
                    rot = prev + step
        self.wrist_times.append(float(t))
        self.wrist_pos.append(pos)
        self.wrist_rot.append(rot)

    def hold_wrist(self, t: float) -> None:
        """Keep the wrist where its last keyframe put it until frame t."""
        self.wrist(t, self.wrist_pos[-1], self.wrist_rot[-1])


def _frames(rng: np.random.Generator, lo_s: float, hi_s: float, style: _Style) -> int:
    """A duration in whole frames (at least 3), scaled by the performer's tempo."""
    return max(3, round(rng.uniform(lo_s, hi_s) * style.tempo * FPS))


def _small_move(rng: np.random.Generator, scale: float) -> np.ndarray:
    return rng.normal(0.0, scale, 3)


def _wrist_walk(
    plan: _Plan, rng: np.random.Generator, total: int, style: _Style, pos_sd: float, rot_sd: float
) -> None:
    """Wrist keyframes at a slow, irregular pace: small drifts of position and orientation."""
    t, pos, rot = 0, np.zeros(3), np.zeros(3)
    plan.wrist(0, pos, rot)
    while t < total:
        t += _frames(rng, 0.5, 1.2, style)
        pos = 0.5 * pos + _small_move(rng, pos_sd)
        rot = 0.5 * rot + rng.normal(0.0, rot_sd, 3)
        plan.wrist(t, pos, rot)


def _hold_then(plan: _Plan, t: int, shape: Shape, hold: int, label: str | None) -> int:
    """Reach `shape` at t, hold it for `hold` frames (optionally labelled); returns the end frame."""
    plan.shape(t, shape)
    plan.shape(t + hold, shape)
    if label:
        plan.holds.append((t, t + hold, label))
    return t + hold


def _plan_grasp_release(rng: np.random.Generator, total: int, style: _Style) -> _Plan:
    plan = _Plan(roll_deg=(-20.0, 110.0), pitch_deg=(-25.0, 15.0))
    size = rng.uniform(0.0, 1.0)  # object size: small objects need a tighter grasp
    mcp, pip = 45 + 35 * size, 50 + 40 * size
    grasp = Shape(((mcp, pip), (mcp + 3, pip + 5), (mcp + 5, pip + 5), (mcp + 8, pip + 5)), "fist", 0.1)
    if rng.random() < 0.35:  # a precision grasp of a small object instead of a power grasp
        grasp = Shape(((40, 40), (40, 45), 0.45, 0.5), "oppose", 0.2, touch="index")
    preshape = Shape((0.1, 0.1, 0.15, 0.2), "out", 0.8)
    t = 0
    plan.shape(0, SHAPES["relaxed"])
    reach = np.array([rng.uniform(0.12, 0.3), rng.normal(0, 0.08), rng.uniform(-0.12, 0.0)])
    lift = np.array([rng.normal(0, 0.03), rng.normal(0, 0.05), rng.uniform(0.05, 0.15)])
    turn = rng.normal(0.0, 0.35, 3)
    plan.wrist(0, np.zeros(3), np.zeros(3))
    while t < total:
        start = t + _frames(rng, 0.0, 0.4, style)
        dur = _frames(rng, 0.7, 1.1, style)
        plan.shape(start, SHAPES["relaxed"])
        plan.shape(start + int(0.55 * dur), preshape)  # hand opens on the way, as in real reaches
        plan.hold_wrist(start)
        plan.wrist(start + dur, plan.wrist_pos[-1] + reach, np.zeros(3))
        grasped = start + dur + _frames(rng, 0.1, 0.25, style)
        t = _hold_then(plan, grasped, grasp, _frames(rng, 0.15, 0.3, style), "grasp")
        plan.hold_wrist(t)
        lift_dur = _frames(rng, 0.6, 1.0, style)
        down = plan.wrist_pos[-1]
        plan.wrist(t + lift_dur, down + lift, turn)
        plan.shape(t + lift_dur, grasp)
        t += lift_dur + _frames(rng, 0.2, 0.6, style)
        plan.hold_wrist(t)
        plan.shape(t, grasp)
        t += lift_dur
        plan.wrist(t, down, np.zeros(3))
        plan.shape(t, grasp)
        t = _hold_then(
            plan, t + _frames(rng, 0.2, 0.35, style), preshape, _frames(rng, 0.1, 0.2, style), None
        )
        plan.hold_wrist(t)
        t += _frames(rng, 0.6, 1.0, style)
        plan.wrist(t, plan.wrist_pos[-1] - reach * rng.uniform(0.6, 1.0), np.zeros(3))
        plan.shape(t, SHAPES["relaxed"])
        reach = np.array([rng.uniform(0.1, 0.25), rng.normal(0, 0.08), rng.uniform(-0.1, 0.0)])
    return plan


def _plan_pinch(rng: np.random.Generator, total: int, style: _Style) -> _Plan:
    plan = _Plan(roll_deg=(-30.0, 100.0), pitch_deg=(-10.0, 45.0))
    _wrist_walk(plan, rng, total, style, 0.02, 0.12)
    finger = "index" if rng.random() < 0.8 else "middle"
    curls = [0.3, 0.35, 0.4, 0.45]
    curls[LONG_FINGERS.index(finger)] = 0.45
    if rng.random() < 0.4:  # the other fingers flare out, as in a "precise" pinch
        curls = [c * 0.3 for c in curls]
        curls[LONG_FINGERS.index(finger)] = 0.45
    pinch = Shape(tuple(curls), "oppose", 0.3, touch=finger)  # type: ignore[arg-type]
    t = _frames(rng, 0.0, 0.5, style)
    plan.shape(0, SHAPES["relaxed"])
    while t < total:
        plan.shape(t, SHAPES["relaxed"] if rng.random() < 0.5 else Shape((0.1, 0.15, 0.2, 0.25), "out", 0.6))
        t += _frames(rng, 0.3, 0.6, style)
        t = _hold_then(plan, t, pinch, _frames(rng, 0.3, 0.9, style), f"pinch:{finger}")
        t += _frames(rng, 0.3, 0.6, style)
    return plan


def _plan_point(rng: np.random.Generator, total: int, style: _Style) -> _Plan:
    plan = _Plan(roll_deg=(-20.0, 70.0), pitch_deg=(-20.0, 30.0))
    point = SHAPES["point"] if rng.random() < 0.7 else Shape((0.0, 1.0, 1.0, 1.0), "fold", 0.0)
    plan.shape(0, SHAPES["relaxed"])
    t = _frames(rng, 0.2, 0.6, style)
    plan.shape(t, SHAPES["relaxed"])
    t += _frames(rng, 0.3, 0.5, style)
    start = t
    t = _hold_then(plan, t, point, max(total - t, 3), "point")
    # Aim at a few targets: the wrist turns and moves a little between holds.
    plan.wrist(0, np.zeros(3), np.zeros(3))
    wt = start
    while wt < total:
        plan.hold_wrist(wt)
        wt += _frames(rng, 0.3, 0.6, style)
        plan.wrist(
            wt, plan.wrist_pos[-1] + _small_move(rng, 0.04), np.clip(rng.normal(0.0, 0.3, 3), -0.6, 0.6)
        )
        wt += _frames(rng, 0.2, 0.6, style)
    return plan


_COUNT_AMERICAN = {
    1: ("index",),
    2: ("index", "middle"),
    3: ("index", "middle", "ring"),
    4: LONG_FINGERS,
    5: ("thumb", *LONG_FINGERS),
}
_COUNT_EUROPEAN = {
    1: ("thumb",),
    2: ("thumb", "index"),
    3: ("thumb", "index", "middle"),
    4: ("thumb", "index", "middle", "ring"),
    5: ("thumb", *LONG_FINGERS),
}


def count_shape(extended: tuple[str, ...]) -> Shape:
    """The hand showing exactly the `extended` fingers; the others fold into the palm."""
    curls = tuple(0.0 if f in extended else 1.0 for f in LONG_FINGERS)
    thumb = "out" if "thumb" in extended else ("fist" if curls[0] == 1.0 else "fold")
    spread = 0.7 if len(extended) > 1 else 0.0
    return Shape(curls, thumb, spread)  # type: ignore[arg-type]


def _plan_count(rng: np.random.Generator, total: int, style: _Style) -> _Plan:
    plan = _Plan(roll_deg=(-60.0, 140.0), pitch_deg=(35.0, 85.0))
    _wrist_walk(plan, rng, total, style, 0.015, 0.1)
    table = _COUNT_AMERICAN if rng.random() < 0.6 else _COUNT_EUROPEAN
    up = rng.random() < 0.7
    n = int(rng.integers(1, 3)) if up else int(rng.integers(3, 6))
    plan.shape(0, SHAPES["fist"] if rng.random() < 0.6 else SHAPES["relaxed"])
    t = _frames(rng, 0.1, 0.4, style)
    while t < total:
        extended = table[n]
        t += _frames(rng, 0.25, 0.45, style)
        t = _hold_then(
            plan, t, count_shape(extended), _frames(rng, 0.3, 0.7, style), f"count_{n}:{','.join(extended)}"
        )
        n = n + 1 if up else n - 1
        if n > 5 or n < 1:
            up = not up
            n = 4 if n > 5 else 2
    return plan


def _plan_wave(rng: np.random.Generator, total: int, style: _Style) -> _Plan:
    # Waving is the one fast rotation: about 2 Hz, +-15-30 degrees.
    plan = _Plan(roll_deg=(-25.0, 25.0), pitch_deg=(55.0, 90.0), max_turn=5.0)
    open_hand = Shape((0.05, 0.05, 0.08, 0.1), "out" if rng.random() < 0.5 else "side", rng.uniform(0.2, 0.8))
    plan.shape(0, SHAPES["relaxed"])
    t0 = _frames(rng, 0.2, 0.5, style)
    flap = rng.random() < 0.3  # "bye-bye": fingers flap at the knuckles instead of the wrist waving
    if not flap:
        _hold_then(plan, t0, open_hand, total, None)
    amp = rng.uniform(0.25, 0.5)  # radians each side, radial/ulnar deviation + some forearm rotation
    half = max(5, round(rng.uniform(0.25, 0.4) * FPS))
    axis = np.array([rng.uniform(-0.3, 0.3), 1.0, rng.uniform(-0.2, 0.2)])
    axis /= np.linalg.norm(axis)
    sway = rng.uniform(0.01, 0.04)
    plan.wrist(0, np.zeros(3), np.zeros(3))
    t, sign = t0, 1.0
    while t < total + half:
        t += half
        if flap:
            plan.wrist(t, np.zeros(3), np.zeros(3))
            shape = Shape((0.55, 0.55, 0.55, 0.55) if sign > 0 else (0.0, 0.0, 0.0, 0.0), "side", 0.1)
            plan.shape(t, shape)
        else:
            plan.wrist(t, np.array([0.0, sign * sway, 0.0]), sign * amp * axis)
        sign = -sign
    return plan


def _plan_finger_tap(rng: np.random.Generator, total: int, style: _Style) -> _Plan:
    opposition = rng.random() < 0.4  # thumb taps each fingertip in turn (a clinical test) vs drumming
    plan = _Plan(roll_deg=(20.0, 100.0) if opposition else (-15.0, 15.0), pitch_deg=(-15.0, 20.0))
    _wrist_walk(plan, rng, total, style, 0.008, 0.05)
    rest = Shape((0.2, 0.25, 0.3, 0.35), "rest", 0.3)
    plan.shape(0, rest)
    t = _frames(rng, 0.1, 0.4, style)
    order = list(LONG_FINGERS)
    if rng.random() < 0.5:
        order = order + order[-2:0:-1]
    if not opposition and rng.random() < 0.4:
        order = [order[int(rng.integers(0, 2))]]  # the same finger over and over
    taps: dict[str, Shape] = {}
    for finger in LONG_FINGERS:  # one shape per finger, so its touch is solved once
        curls = [0.25, 0.3, 0.35, 0.4] if opposition else [0.2, 0.25, 0.3, 0.35]
        curls[LONG_FINGERS.index(finger)] = 0.5 if opposition else 0.65
        taps[finger] = Shape(
            tuple(curls),  # type: ignore[arg-type]
            "oppose" if opposition else "rest",
            0.2 if opposition else 0.3,
            touch=finger if opposition else None,
        )
    i = 0
    while t < total:
        finger = order[i % len(order)]
        i += 1
        dur = max(4, round(rng.uniform(0.12, 0.25) * FPS))
        if opposition:
            t = _hold_then(plan, t + dur, taps[finger], max(3, dur // 2), f"touch:{finger}")
        else:
            plan.shape(t + dur, taps[finger])
            t += dur
        plan.shape(t + dur, rest)
        t += dur + int(rng.integers(0, 4))
    return plan


def _plan_sign(rng: np.random.Generator, total: int, style: _Style) -> _Plan:
    plan = _Plan(roll_deg=(-40.0, 140.0), pitch_deg=(10.0, 80.0))
    plan.shape(0, SHAPES["relaxed"])
    plan.wrist(0, np.zeros(3), np.zeros(3))
    t, last = _frames(rng, 0.1, 0.3, style), "relaxed"
    while t < total:
        name = last
        while name == last:
            name = SIGN_SHAPES[int(rng.integers(0, len(SIGN_SHAPES)))]
        move = _frames(rng, 0.2, 0.4, style)
        hold = _frames(rng, 0.2, 0.5, style)
        plan.hold_wrist(t)
        pos = np.clip(plan.wrist_pos[-1] + _small_move(rng, 0.05), -0.15, 0.15)
        rot = np.clip(plan.wrist_rot[-1] + rng.normal(0.0, 0.3, 3), -0.8, 0.8)
        plan.wrist(t + move, pos, rot)
        plan.shape(t, plan.shapes[-1])
        t = _hold_then(plan, t + move, SHAPES[name], hold, f"sign:{name}")
        last = name
    return plan


def _plan_idle(rng: np.random.Generator, total: int, style: _Style) -> _Plan:
    plan = _Plan(roll_deg=(-40.0, 160.0), pitch_deg=(-35.0, 45.0), idle_noise=1.0)
    plan.wrist(0, np.zeros(3), np.zeros(3))
    base = SHAPES["relaxed"] if rng.random() < 0.7 else Shape((0.3, 0.4, 0.45, 0.5), "rest", 0.2)
    plan.shape(0, base)
    t = 0
    while t < total:  # occasional slow shifts between slightly different relaxed shapes
        t += _frames(rng, 1.0, 2.5, style)
        curls = np.clip(base.curls + rng.normal(0.0, 0.08, 4), 0.0, 0.7)
        plan.shape(t, Shape(tuple(curls), "rest", float(rng.uniform(0.1, 0.5))))  # type: ignore[arg-type]
    return plan


_PLANNERS: dict[str, Callable[[np.random.Generator, int, _Style], _Plan]] = {
    "grasp_release": _plan_grasp_release,
    "pinch": _plan_pinch,
    "point": _plan_point,
    "count": _plan_count,
    "wave": _plan_wave,
    "finger_tap": _plan_finger_tap,
    "sign": _plan_sign,
    "idle": _plan_idle,
}


# --------------------------------------------------------------------------- assembling a sequence


def _finger_angles(
    plan: _Plan, style: _Style, rng: np.random.Generator, betas: np.ndarray, hand_model: str, num_frames: int
) -> np.ndarray:
    """(T, 15, 3) anatomical angles from the plan's shape keyframes."""
    order = np.argsort(np.asarray(plan.shape_times), kind="stable")
    times = np.asarray(plan.shape_times)[order]
    shapes = [plan.shapes[i] for i in order]
    # One set of angles per distinct Shape object, so a held shape stays exactly still.
    keys: dict[int, np.ndarray] = {}
    touches: list[tuple[int, str]] = []
    for s in shapes:
        if id(s) not in keys:
            keys[id(s)] = shape_angles(s, style, rng)
            if s.touch:
                touches.append((id(s), s.touch))
    if touches:
        shape_of = {id(s): s for s in shapes}
        # Warm start from the solve of the average hand: a few steps then absorb jitter and shape.
        start = np.stack([_touch_prior(shape_of[k], hand_model) for k, _ in touches])
        solved = solve_touches(
            np.stack([keys[k] for k, _ in touches]),
            [f for _, f in touches],
            betas,
            hand_model,
            start=start,
            iterations=25,
        )
        for (k, _), value in zip(touches, solved, strict=True):
            keys[k] = value
    values = np.stack([keys[id(s)] for s in shapes])
    frames = np.arange(num_frames, dtype=np.float64)
    out = np.zeros((num_frames, NUM_FINGER_JOINTS, 3))
    for finger, joints in MANO_FINGER_JOINTS.items():
        idx = [j - 1 for j in joints]
        out[:, idx] = minimum_jerk_interpolate(times + style.finger_delay[finger], values[:, idx], frames)
    noise_deg = 1.0 + 4.0 * plan.idle_noise
    drift = smooth_noise(rng, num_frames, NUM_FINGER_JOINTS * 3, sigma_frames=12.0)
    drift = (
        drift.reshape(num_frames, NUM_FINGER_JOINTS, 3) * np.radians(noise_deg) * np.array([1.0, 0.3, 0.2])
    )
    return clip_angles(out + drift, margin=1e-4)  # not 0: the pose round trip rounds either way


def _base_orientation(rng: np.random.Generator, plan: _Plan) -> np.ndarray:
    """(3,3) hand-to-world rotation: forearm forward (+x), rolled, raised and turned about z (up)."""
    # Model frame: fingers along -x, palm facing -y, thumb towards +z. This maps it to fingers
    # forward (+x), palm down (-z), thumb to the left (+y) for a right hand.
    align = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    roll = np.radians(rng.uniform(*plan.roll_deg))
    pitch = np.radians(rng.uniform(*plan.pitch_deg))
    yaw = rng.uniform(-np.pi, np.pi)
    rotvecs = torch.tensor([[0.0, 0.0, yaw], [0.0, -pitch, 0.0], [roll, 0.0, 0.0]], dtype=torch.float64)
    rz, ry, rx = axis_angle_to_matrix(rotvecs).numpy()
    return rz @ ry @ rx @ align


def _wrist_trajectory(
    plan: _Plan, rng: np.random.Generator, num_frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T,3) wrist positions, (T,3,3) orientations and the wrist key frames inside the sequence."""
    frames = np.arange(num_frames, dtype=np.float64)
    if plan.wrist_times:
        order = np.argsort(np.asarray(plan.wrist_times), kind="stable")
        times = np.asarray(plan.wrist_times)[order]
        pos = minimum_jerk_interpolate(times, np.stack(plan.wrist_pos)[order], frames)
        rot = minimum_jerk_interpolate(times, np.stack(plan.wrist_rot)[order], frames)
    else:
        times = np.zeros(1)
        pos, rot = np.zeros((num_frames, 3)), np.zeros((num_frames, 3))
    if plan.idle_noise > 0:
        pos = pos + smooth_noise(rng, num_frames, 3, 20.0) * 0.01 * plan.idle_noise
        rot = rot + smooth_noise(rng, num_frames, 3, 20.0) * 0.06 * plan.idle_noise
    base = _base_orientation(rng, plan)
    origin = rng.normal(0.0, 0.1, 3) + np.array([0.35, -0.1, 1.0])  # in front of a seated body
    world_pos = origin + pos
    local = axis_angle_to_matrix(torch.as_tensor(rot)).numpy()
    orient = base[None] @ local  # offsets are about the hand's own axes
    keys = np.unique(times[(times >= 0) & (times < num_frames)].astype(np.int64))
    return world_pos, orient, keys


def generate_sequence(
    seed: int, num_frames: int = 120, kind: str | None = None, hand_model: str = "default"
) -> SyntheticSequence:
    """A right-hand sequence at 30 fps in world space, with a camera; a seed always gives the same arrays."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if kind is not None and kind not in SEQUENCE_KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {list(SEQUENCE_KINDS)}")
    # Tensors here are tiny: a second thread only adds hand-offs (9x slower on 2 busy cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _generate(seed, num_frames, kind, hand_model)
    finally:
        torch.set_num_threads(threads)


def _generate(seed: int, num_frames: int, kind: str | None, hand_model: str) -> SyntheticSequence:
    rng = np.random.Generator(np.random.PCG64(seed))
    chosen = kind if kind is not None else SEQUENCE_KINDS[int(rng.integers(0, len(SEQUENCE_KINDS)))]
    betas = np.clip(rng.standard_normal(NUM_BETAS), -2.5, 2.5)
    style = _Style.sample(rng)
    plan = _PLANNERS[chosen](rng, num_frames, style)
    angles = _finger_angles(plan, style, rng, betas, hand_model, num_frames)
    model, frames = hand_model_for(hand_model)
    hand_pose = clamp_pose(anatomical_to_pose(angles, frames), frames)  # a no-op inside the limits
    wrist, orient, wrist_keys = _wrist_trajectory(plan, rng, num_frames)
    global_orient = matrix_to_axis_angle(torch.as_tensor(orient)).numpy()
    joints, transl = _forward(model, hand_pose, global_orient, betas, wrist)
    motion = HandMotion(
        fps=FPS,
        handedness="right",
        hand_model=hand_model,
        global_orient=global_orient,
        hand_pose=hand_pose,
        transl=transl,
        betas=betas,
        joints=joints,
    )
    camera = sample_camera_track(rng, joints, FPS)
    delay = max(style.finger_delay.values())
    holds = [
        (int(a + delay), int(min(b, num_frames)), label)
        for a, b, label in plan.holds
        if a + delay < min(b, num_frames)
    ]
    return SyntheticSequence(motion, camera, chosen, int(seed), holds, wrist_keys)


def _forward(
    model: HandModel, hand_pose: np.ndarray, global_orient: np.ndarray, betas: np.ndarray, wrist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MP21 keypoints and the translation that puts the wrist joint at `wrist` (T,3)."""
    with torch.inference_mode():
        beta_t = torch.as_tensor(betas, dtype=torch.float64)[None]
        root = model.rest_joints(beta_t)[0, 0].numpy()
        # MANO rotates about the rest wrist joint, so the posed wrist is root + transl.
        transl = wrist - root
        _, kp = model.forward_keypoints(
            torch.as_tensor(hand_pose), torch.as_tensor(global_orient), beta_t, torch.as_tensor(transl)
        )
    return kp.numpy().copy(), transl


def generate_corpus(
    num_sequences: int,
    seed: int,
    num_frames: int = 120,
    kinds: tuple[str, ...] | None = None,
    hand_model: str = "default",
) -> Iterator[SyntheticSequence]:
    """`num_sequences` sequences cycling through `kinds` (all by default), reproducible from `seed`.

    Per-sequence seeds come from numpy's SeedSequence, so corpora of nearby seeds share no sequence.
    """
    kinds = kinds or SEQUENCE_KINDS
    children = np.random.SeedSequence(seed).generate_state(num_sequences, dtype=np.uint64)
    for i in range(num_sequences):
        yield generate_sequence(int(children[i]), num_frames, kinds[i % len(kinds)], hand_model)
