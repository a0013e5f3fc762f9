"""Training windows: a world-frame hand motion seen by a camera track -> fixed-length examples.

A window holds every condition channel of the paper (section 3.1, appendix A.1) for `length`
frames at 30 fps:

- MANO parameters re-expressed in each frame's camera space (``*_cam``) and in the window's
  canonical space (the camera of the window's first frame);
- MP21 keypoints in the same two spaces (``kp3d_cam``, ``kp3d``);
- 2D keypoints: each frame's projection in pixels (what a detector sees) and normalised with
  `Camera.normalise_2d`;
- `visible` (T,21): in front of the camera and inside the image. Entries that are not visible can
  never be observed (the mask sampler ANDs its masks with it).

Left hands are mirrored in (paper B.1) through `engine.hand.mirror` only, so every window is an
exactly consistent right-hand example: the camera trajectory is mirrored with the hand, and forward
kinematics of the right model on the window's MANO parameters reproduce its keypoints.

Rigid change of frame of MANO parameters (x -> A x + b): the root rotates about the rest-pose wrist
j0 of the shaped hand, so the wrist sits at j0 + transl; hence ``R' = A R`` and
``transl' = A (transl + j0) + b - j0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from engine.hand.mirror import mirror_axis_angle, mirror_pixels, mirror_points, mirror_transl
from engine.hand.skeleton import NUM_BETAS, NUM_KEYPOINTS
from engine.motion.camera import Camera, canonical_extrinsics, to_canonical
from engine.motion.resample import resample_motion
from engine.motion.types import HandMotion

WINDOW_FPS = 30.0
WINDOW_LENGTH = 120
_MIN_DEPTH = 1e-3  # metres: closer than this to the camera plane counts as behind it
_MIRROR_4X4 = np.diag([-1.0, 1.0, 1.0, 1.0])


class CameraTrackLike(Protocol):
    """What windows need from `engine.data.cameras.CameraTrack`."""

    camera: Camera
    cam_to_world: np.ndarray  # (T,4,4) OpenCV camera -> world


@dataclass(frozen=True)
class WindowConfig:
    """How sequences are cut: `length` frames at `fps`, a new window every `stride` frames.

    The last window is aligned to the sequence's end so no tail is dropped. Sequences shorter than
    `length` but at least `min_length` frames are padded by repeating their last frame (the paper
    pads so at inference); `frame_valid` marks the real frames and masks are false on padding.
    """

    length: int = WINDOW_LENGTH
    stride: int = 60
    fps: float = WINDOW_FPS
    min_length: int = 60

    def __post_init__(self) -> None:
        if self.length < 1 or self.stride < 1:
            raise ValueError(f"length and stride must be >= 1, got {self.length}, {self.stride}")
        if not 1 <= self.min_length <= self.length:
            raise ValueError(f"min_length must be in [1, length], got {self.min_length}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


# Per-window keys, shapes with T = window length, and storage dtypes (shards use these).
def window_schema(length: int = WINDOW_LENGTH) -> dict[str, tuple[tuple[int, ...], str]]:
    """{key: (shape, dtype)} of one window as `make_windows` + masks produce and shards store."""
    t, j = length, NUM_KEYPOINTS
    return {
        "mano_pose": ((t, 48), "float32"),  # canonical: global orient + 45 finger values
        "mano_transl": ((t, 3), "float32"),
        "mano_pose_cam": ((t, 48), "float32"),  # each frame's camera space
        "mano_transl_cam": ((t, 3), "float32"),
        "betas": ((NUM_BETAS,), "float32"),
        "kp3d": ((t, j, 3), "float32"),  # canonical
        "kp3d_cam": ((t, j, 3), "float32"),
        "kp2d": ((t, j, 2), "float32"),  # pixels of each frame's image
        "kp2d_norm": ((t, j, 2), "float32"),
        "visible": ((t, j), "bool"),
        "frame_valid": ((t,), "bool"),
        "cam_to_canonical": ((t, 4, 4), "float32"),
        "K": ((3, 3), "float32"),
        "image_size": ((2,), "int32"),
        "mirrored": ((), "bool"),
        "kp2d_mask": ((t, j), "bool"),
        "kp3d_mask": ((t, j), "bool"),
        "mano_mask": ((t,), "bool"),
        "channels": ((3,), "bool"),  # kp2d, kp3d, mano present (absent channel -> CFG's null token)
        "sequence": ((), "int32"),  # index into the manifest's sequence list
        "start": ((), "int32"),  # first frame of the window in the 30 fps sequence
    }


@lru_cache(maxsize=64)
def _rest_wrist_cached(model: str, side: str, betas: tuple[float, ...]) -> np.ndarray:
    from engine.hand.registry import get_hand_model_data

    return get_hand_model_data(model, side).rest_joints(np.asarray(betas))[0]


def rest_wrist(hand_model: str, side: str, betas: np.ndarray) -> np.ndarray:
    """(3,) rest-pose wrist j0 of the shaped hand (the point MANO's root rotates about)."""
    return _rest_wrist_cached(hand_model, side, tuple(float(b) for b in np.asarray(betas).ravel())).copy()


def _rotmats(axis_angle: np.ndarray) -> np.ndarray:
    import torch

    from engine.motion.rotations import axis_angle_to_matrix

    return axis_angle_to_matrix(torch.from_numpy(np.asarray(axis_angle, dtype=np.float64))).numpy()


def _axis_angles(rotmats: np.ndarray) -> np.ndarray:
    import torch

    from engine.motion.rotations import matrix_to_axis_angle

    return matrix_to_axis_angle(torch.from_numpy(np.ascontiguousarray(rotmats, dtype=np.float64))).numpy()


def transform_mano(
    global_orient: np.ndarray, transl: np.ndarray, rot: np.ndarray, shift: np.ndarray, rest_wrist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MANO root (T,3) axis-angle and (T,3) translation under x -> rot x + shift.

    `rot` is (3,3) or (T,3,3), `shift` (3,) or (T,3); `rest_wrist` is j0 of the shaped hand.
    """
    rot = np.broadcast_to(np.asarray(rot, dtype=np.float64), (len(transl), 3, 3))
    shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), (len(transl), 3))
    orient = _axis_angles(rot @ _rotmats(global_orient))
    wrist = np.asarray(transl, dtype=np.float64) + rest_wrist
    new_transl = np.einsum("tij,tj->ti", rot, wrist) + shift - rest_wrist
    return orient, new_transl


def _resample_poses(cam_to_world: np.ndarray, fps_in: float, fps_out: float, count: int) -> np.ndarray:
    """Camera poses at `fps_out`: translations lerped, rotations slerped (as `resample_motion`)."""
    import torch

    from engine.motion.rotations import axis_angle_slerp

    u = np.arange(count) * fps_in / fps_out
    last = len(cam_to_world) - 1
    lo = np.clip(np.floor(u + 1e-6).astype(np.int64), 0, last)
    hi = np.minimum(lo + 1, last)
    w = np.clip(u - lo, 0.0, 1.0)
    rv = _axis_angles(cam_to_world[:, :3, :3])
    rot = axis_angle_slerp(torch.from_numpy(rv[lo]), torch.from_numpy(rv[hi]), torch.from_numpy(w)).numpy()
    out = np.tile(np.eye(4), (count, 1, 1))
    out[:, :3, :3] = _rotmats(rot)
    t = cam_to_world[:, :3, 3]
    out[:, :3, 3] = t[lo] * (1 - w[:, None]) + t[hi] * w[:, None]
    return out


def mirror_motion(motion: HandMotion) -> HandMotion:
    """The mirror image (x -> -x of its frame) of `motion`, as a hand of the other side.

    Used to turn left hands into right hands (and, as an augmentation, right into left);
    everything goes through `engine.hand.mirror`.
    """
    side_to = "left" if motion.handedness == "right" else "right"
    j_from = rest_wrist(motion.hand_model, motion.handedness, motion.betas)
    j_to = rest_wrist(motion.hand_model, side_to, motion.betas)
    return motion.replace(
        handedness=side_to,
        global_orient=mirror_axis_angle(motion.global_orient),
        hand_pose=mirror_axis_angle(motion.hand_pose),
        transl=mirror_transl(motion.transl, j_from, j_to),
        joints=mirror_points(motion.joints),
        joints_samples=None,
        joints_std=None,
    )


@dataclass(frozen=True)
class CameraSequence:
    """A whole sequence at the window rate in per-frame camera space, right-handed (mirrored in)."""

    fps: float
    hand_model: str
    camera: Camera
    cam_to_world: np.ndarray  # (T,4,4), mirrored with the hand when `mirrored`
    global_orient: np.ndarray  # (T,3) camera space
    hand_pose: np.ndarray  # (T,45)
    transl: np.ndarray  # (T,3) camera space
    betas: np.ndarray  # (10,)
    joints: np.ndarray  # (T,21,3) camera space
    kp2d: np.ndarray  # (T,21,2) pixels (0 where behind the camera)
    visible: np.ndarray  # (T,21) bool
    mirrored: bool

    @property
    def num_frames(self) -> int:
        return int(self.global_orient.shape[0])


def to_camera_sequence(motion: HandMotion, track: CameraTrackLike, fps: float = WINDOW_FPS) -> CameraSequence:
    """World-frame `motion` + its camera `track` -> camera-space right-hand sequence at `fps`."""
    c2w = np.asarray(track.cam_to_world, dtype=np.float64)
    if c2w.shape != (motion.num_frames, 4, 4):
        raise ValueError(f"camera track has shape {c2w.shape}, motion has {motion.num_frames} frames")
    if abs(motion.fps - fps) > 1e-9:
        fps_in = motion.fps
        motion = resample_motion(motion, fps)
        c2w = _resample_poses(c2w, fps_in, fps, motion.num_frames)
    rot_cw = np.swapaxes(c2w[:, :3, :3], 1, 2)  # world -> camera
    shift_cw = -np.einsum("tij,tj->ti", rot_cw, c2w[:, :3, 3])
    j0 = rest_wrist(motion.hand_model, motion.handedness, motion.betas)
    orient, transl = transform_mano(motion.global_orient, motion.transl, rot_cw, shift_cw, j0)
    joints = np.einsum("tij,tkj->tki", rot_cw, motion.joints) + shift_cw[:, None]
    hand_pose = np.array(motion.hand_pose)
    camera = track.camera
    front = joints[..., 2] > _MIN_DEPTH
    safe = np.where(front[..., None], joints, np.array([0.0, 0.0, 1.0]))
    kp2d = np.where(front[..., None], camera.project(safe), 0.0)
    mirrored = motion.handedness == "left"
    if mirrored:
        # Mirror the camera-space scene (and the camera path with it): a right hand seen by a
        # camera with the same intrinsics, its image flipped about the principal point's column.
        orient = mirror_axis_angle(orient)
        hand_pose = mirror_axis_angle(hand_pose)
        transl = mirror_transl(transl, j0, rest_wrist(motion.hand_model, "right", motion.betas))
        joints = mirror_points(joints)
        kp2d = np.where(front[..., None], mirror_pixels(kp2d, float(camera.K[0, 2])), 0.0)
        c2w = _MIRROR_4X4 @ c2w @ _MIRROR_4X4
    inside = (kp2d[..., 0] >= 0) & (kp2d[..., 0] < camera.width) & (kp2d[..., 1] >= 0)
    inside &= kp2d[..., 1] < camera.height
    return CameraSequence(
        fps=fps,
        hand_model=motion.hand_model,
        camera=camera,
        cam_to_world=c2w,
        global_orient=orient,
        hand_pose=hand_pose,
        transl=transl,
        betas=np.array(motion.betas),
        joints=joints,
        kp2d=kp2d,
        visible=front & inside,
        mirrored=mirrored,
    )


def window_starts(num_frames: int, config: WindowConfig) -> list[int]:
    """First frames of the windows of a `num_frames` sequence (empty if it is too short)."""
    if num_frames < config.min_length:
        return []
    if num_frames <= config.length:
        return [0]
    starts = list(range(0, num_frames - config.length + 1, config.stride))
    if starts[-1] != num_frames - config.length:
        starts.append(num_frames - config.length)
    return starts


def cut_window(seq: CameraSequence, start: int, length: int) -> dict[str, np.ndarray]:
    """One window (float64; no masks yet) of `seq` starting at `start`, padded to `length`."""
    real = min(length, seq.num_frames - start)
    if real < 1:
        raise ValueError(f"window start {start} is past the sequence's {seq.num_frames} frames")
    idx = np.minimum(np.arange(start, start + length), start + real - 1)  # pad by repeating the last
    c2w = seq.cam_to_world[idx]
    joints_cam = seq.joints[idx]
    orient_cam, transl_cam = seq.global_orient[idx], seq.transl[idx]
    hand_pose = seq.hand_pose[idx]
    ext = canonical_extrinsics(c2w)
    j0 = rest_wrist(seq.hand_model, "right", seq.betas)
    orient_can, transl_can = transform_mano(orient_cam, transl_cam, ext[:, :3, :3], ext[:, :3, 3], j0)
    frame_valid = np.arange(length) < real
    kp2d = seq.kp2d[idx]
    return {
        "mano_pose": np.concatenate([orient_can, hand_pose], axis=1),
        "mano_transl": transl_can,
        "mano_pose_cam": np.concatenate([orient_cam, hand_pose], axis=1),
        "mano_transl_cam": transl_cam,
        "betas": seq.betas.copy(),
        "kp3d": to_canonical(joints_cam, c2w),
        "kp3d_cam": joints_cam,
        "kp2d": kp2d,
        "kp2d_norm": seq.camera.normalise_2d(kp2d),
        "visible": seq.visible[idx] & frame_valid[:, None],
        "frame_valid": frame_valid,
        "cam_to_canonical": ext,
        "K": seq.camera.K.copy(),
        "image_size": np.array([seq.camera.width, seq.camera.height], dtype=np.int32),
        "mirrored": np.array(seq.mirrored),
        "start": np.array(start, dtype=np.int32),
    }


def make_windows(
    motion: HandMotion, track: CameraTrackLike, config: WindowConfig | None = None
) -> list[dict[str, np.ndarray]]:
    """All windows of a world-frame `motion` seen by `track` (see the module docstring)."""
    config = config or WindowConfig()
    seq = to_camera_sequence(motion, track, config.fps)
    return [cut_window(seq, s, config.length) for s in window_starts(seq.num_frames, config)]


def to_storage(window: dict[str, Any], length: int) -> dict[str, np.ndarray]:
    """Cast a window to the schema's storage dtypes (float32 etc.), checking every shape."""
    schema = window_schema(length)
    missing = sorted(set(schema) - set(window))
    if missing:
        raise ValueError(f"window is missing keys {missing}")
    out = {}
    for key, (shape, dtype) in schema.items():
        arr = np.asarray(window[key]).astype(dtype)
        if arr.shape != shape:
            raise ValueError(f"window key {key!r} has shape {arr.shape}, expected {shape}")
        out[key] = arr
    return out
