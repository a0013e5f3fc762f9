"""Training windows: camera/canonical re-expression of MANO, keypoints, visibility, mirroring."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest
import torch

from engine.data.windows import (
    WindowConfig,
    make_windows,
    mirror_motion,
    to_storage,
    transform_mano,
    window_schema,
    window_starts,
)
from engine.hand import create_hand_model
from engine.motion.camera import Camera
from engine.motion.types import HandMotion

MODEL = "procedural"  # small mesh: fast FK


@dataclass(frozen=True)
class Track:
    """Stand-in with the fields of engine.data.cameras.CameraTrack that windows read."""

    camera: Camera
    cam_to_world: np.ndarray


@lru_cache(maxsize=4)
def _model(side: str):
    return create_hand_model(MODEL, side, dtype=torch.float64)


def fk_keypoints(side: str, pose48: np.ndarray, transl: np.ndarray, betas: np.ndarray) -> np.ndarray:
    out = _model(side)(pose48[:, 3:], pose48[:, :3], betas, transl)
    return out.keypoints.numpy()


def world_motion(num_frames: int = 90, seed: int = 0, side: str = "right", fps: float = 30.0) -> HandMotion:
    """A smooth FK-consistent motion in a z-up world frame around (0, 0, 1)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, num_frames)[:, None]
    pose = 0.3 * np.sin(2 * np.pi * (t * rng.uniform(0.5, 1.5, 45) + rng.uniform(0, 1, 45)))
    orient = rng.normal(0, 1, 3) + 0.5 * np.sin(2 * np.pi * t * rng.uniform(0.3, 1, 3))
    transl = np.array([0.0, 0.0, 1.0]) + 0.1 * np.sin(2 * np.pi * t * rng.uniform(0.3, 1, 3))
    betas = rng.normal(0, 0.5, 10)
    joints = fk_keypoints(side, np.concatenate([orient, pose], 1), transl, betas)
    return HandMotion(fps, side, MODEL, orient, pose, transl, betas, joints)


def look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4,4) OpenCV camera-to-world looking from `centre` at `target`, z-up world."""
    z = (target - centre) / np.linalg.norm(target - centre)
    up = np.array([0.0, 0.0, 1.0])
    y = -(up - (up @ z) * z)
    y /= np.linalg.norm(y)
    out = np.eye(4)
    out[:3, :3] = np.stack([np.cross(y, z), y, z], axis=1)
    out[:3, 3] = centre
    return out


def orbit_track(num_frames: int, moving: bool = True, radius: float = 0.6) -> Track:
    angles = np.linspace(0.0, 0.8 if moving else 0.0, num_frames)
    target = np.array([0.0, 0.0, 1.0])
    poses = [look_at(target + radius * np.array([np.cos(a), np.sin(a), 0.3]), target) for a in angles]
    return Track(Camera.default(640, 480), np.stack(poses))


def test_camera_and_canonical_mano_reproduce_keypoints_by_fk() -> None:
    motion = world_motion(90)
    windows = make_windows(motion, orbit_track(90), WindowConfig(length=60, stride=30))
    assert [int(w["start"]) for w in windows] == [0, 30]
    for w in windows:
        betas = w["betas"]
        cam = fk_keypoints("right", w["mano_pose_cam"], w["mano_transl_cam"], betas)
        can = fk_keypoints("right", w["mano_pose"], w["mano_transl"], betas)
        assert np.abs(cam - w["kp3d_cam"]).max() < 1e-5
        assert np.abs(can - w["kp3d"]).max() < 1e-5
        np.testing.assert_allclose(w["cam_to_canonical"][0], np.eye(4), atol=0)
        np.testing.assert_allclose(w["kp3d"][0], w["kp3d_cam"][0], atol=1e-12)
        # The camera moves, so later frames differ between the two spaces.
        assert np.abs(w["kp3d"][-1] - w["kp3d_cam"][-1]).max() > 1e-3


def test_kp2d_is_the_projection_and_normalised() -> None:
    motion = world_motion(60)
    track = orbit_track(60, radius=1.5)
    (w,) = make_windows(motion, track, WindowConfig(length=60))
    np.testing.assert_allclose(w["kp2d"], track.camera.project(w["kp3d_cam"]), atol=1e-9)
    np.testing.assert_allclose(w["kp2d_norm"], track.camera.normalise_2d(w["kp2d"]), atol=1e-12)
    assert w["visible"].all()


def test_static_camera_canonical_equals_camera_space() -> None:
    (w,) = make_windows(world_motion(60), orbit_track(60, moving=False), WindowConfig(length=60))
    np.testing.assert_allclose(w["kp3d"], w["kp3d_cam"], atol=1e-12)
    np.testing.assert_allclose(w["mano_transl"], w["mano_transl_cam"], atol=1e-12)


def test_points_behind_or_outside_the_image_are_not_visible() -> None:
    motion = world_motion(60)
    track = orbit_track(60, moving=False)
    away = track.cam_to_world.copy()
    away[:, :3, :3] = away[:, :3, :3] @ np.diag([-1.0, 1.0, -1.0])  # turned around: hand behind
    (w,) = make_windows(motion, Track(track.camera, away), WindowConfig(length=60))
    assert not w["visible"].any()
    assert np.isfinite(w["kp2d"]).all()
    narrow = Camera(np.array([[5000.0, 0, 320], [0, 5000.0, 240], [0, 0, 1]]), 640, 480)
    (w,) = make_windows(motion, Track(narrow, track.cam_to_world), WindowConfig(length=60))
    outside = (w["kp2d"][..., 0] < 0) | (w["kp2d"][..., 0] >= 640) | (w["kp2d"][..., 1] < 0)
    outside |= w["kp2d"][..., 1] >= 480
    assert outside.any()
    np.testing.assert_array_equal(w["visible"], ~outside)


def test_left_hand_is_mirrored_into_a_consistent_right_hand() -> None:
    motion = world_motion(60, seed=3, side="left")
    (w,) = make_windows(motion, orbit_track(60), WindowConfig(length=60))
    assert bool(w["mirrored"])
    for pose, transl, kp in (
        (w["mano_pose_cam"], w["mano_transl_cam"], w["kp3d_cam"]),
        (w["mano_pose"], w["mano_transl"], w["kp3d"]),
    ):
        assert np.abs(fk_keypoints("right", pose, transl, w["betas"]) - kp).max() < 1e-5
    np.testing.assert_allclose(w["kp2d"], Camera.default(640, 480).project(w["kp3d_cam"]), atol=1e-9)


def test_mirrored_world_with_mirrored_camera_gives_the_same_windows() -> None:
    motion = world_motion(60, seed=5)
    track = orbit_track(60)
    m = np.diag([-1.0, 1.0, 1.0, 1.0])
    mirrored_track = Track(track.camera, m @ track.cam_to_world @ m)
    left = mirror_motion(motion)
    assert left.handedness == "left"
    np.testing.assert_allclose(left.joints, fk_keypoints("left", np.c_[left.global_orient, left.hand_pose],
                                                         left.transl, left.betas), atol=1e-5)  # fmt: skip
    (a,) = make_windows(motion, track, WindowConfig(length=60))
    (b,) = make_windows(left, mirrored_track, WindowConfig(length=60))
    for key in ("kp3d", "kp3d_cam", "kp2d", "mano_transl", "mano_pose"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-9, err_msg=key)


def test_other_frame_rates_are_resampled_to_30fps() -> None:
    motion = world_motion(121, fps=60.0)
    track = orbit_track(121)
    (w,) = make_windows(motion, track, WindowConfig(length=61, min_length=61))
    # Every output frame coincides with an even input frame, so camera-space joints match exactly.
    rot = np.swapaxes(track.cam_to_world[::2, :3, :3], 1, 2)
    expect = np.einsum("tij,tkj->tki", rot, motion.joints[::2] - track.cam_to_world[::2, None, :3, 3])
    np.testing.assert_allclose(w["kp3d_cam"], expect, atol=1e-9)


def test_window_starts_and_padding() -> None:
    cfg = WindowConfig(length=120, stride=60, min_length=60)
    assert window_starts(59, cfg) == []
    assert window_starts(100, cfg) == [0]
    assert window_starts(120, cfg) == [0]
    assert window_starts(250, cfg) == [0, 60, 120, 130]
    (w,) = make_windows(world_motion(80), orbit_track(80), WindowConfig(length=100, min_length=60))
    assert w["frame_valid"].sum() == 80 and not w["visible"][80:].any()
    np.testing.assert_array_equal(w["kp3d_cam"][99], w["kp3d_cam"][79])


def test_transform_mano_identity_and_storage_schema() -> None:
    motion = world_motion(10)
    orient, transl = transform_mano(motion.global_orient, motion.transl, np.eye(3), np.zeros(3), np.ones(3))
    np.testing.assert_allclose(orient, motion.global_orient, atol=1e-12)
    np.testing.assert_allclose(transl, motion.transl, atol=1e-12)
    (w,) = make_windows(world_motion(60), orbit_track(60), WindowConfig(length=60))
    w.update(kp2d_mask=w["visible"], kp3d_mask=w["visible"], mano_mask=w["frame_valid"])
    w.update(channels=np.ones(3, bool), sequence=np.int32(0))
    stored = to_storage(w, 60)
    for key, (shape, dtype) in window_schema(60).items():
        assert stored[key].shape == shape and stored[key].dtype == np.dtype(dtype), key
    with pytest.raises(ValueError, match="missing"):
        to_storage({}, 60)
