"""Virtual cameras: plausible intrinsics, the hand in front and in view, no assumed up axis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data.cameras import (
    HFOV_DEG,
    IMAGE_SIZES,
    CameraTrack,
    hand_axes,
    look_at,
    sample_camera_track,
    sample_intrinsics,
)
from engine.data.synthetic import generate_sequence
from engine.motion.camera import canonical_extrinsics, to_canonical
from engine.motion.rotations import axis_angle_to_matrix


@pytest.fixture(scope="module")
def hands() -> list[np.ndarray]:
    """World keypoints (T,21,3) of a few short sequences with different kinds of motion."""
    kinds = ("grasp_release", "wave", "sign", "idle", "point", "count")
    return [generate_sequence(40 + i, 45, kind).motion.joints for i, kind in enumerate(kinds)]


def _random_rigid(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rot = axis_angle_to_matrix(torch.as_tensor(rng.normal(0.0, 2.0, 3))).numpy()
    return rot, rng.normal(0.0, 3.0, 3)


def test_intrinsics_are_varied_and_plausible() -> None:
    rng = np.random.default_rng(0)
    cams = [sample_intrinsics(rng) for _ in range(200)]
    sizes = {c.image_size for c in cams}
    assert sizes == set(IMAGE_SIZES)
    for c in cams:
        hfov = np.degrees(2 * np.arctan(c.width / 2 / c.K[0, 0]))
        assert HFOV_DEG[0] - 1e-9 <= hfov <= HFOV_DEG[1] + 1e-9
        assert abs(c.K[0, 2] - c.width / 2) < 0.05 * c.width
        assert abs(c.K[1, 2] - c.height / 2) < 0.05 * c.height
        assert abs(c.K[1, 1] / c.K[0, 0] - 1) < 0.02


def test_look_at_is_a_rigid_opencv_pose() -> None:
    pose = look_at(np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 2.0]), np.array([0.0, -1.0, 0.0]))
    assert np.allclose(pose, np.eye(4))  # looking down +z with image up = -y is the identity
    rng = np.random.default_rng(1)
    poses = look_at(rng.normal(size=(50, 3)), rng.normal(size=(50, 3)), rng.normal(size=(50, 3)))
    rot = poses[:, :3, :3]
    assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rot), 1.0)
    canonical_extrinsics(poses)  # validates rigidity too


def test_the_hand_stays_in_front_and_in_view(hands) -> None:
    rng = np.random.default_rng(2)
    inside, depths, distances = [], [], []
    for joints in hands:
        for moving in (False, True):
            for _ in range(3):
                track = sample_camera_track(rng, joints, 30.0, moving=moving)
                assert isinstance(track, CameraTrack) and track.moving == moving
                cam = track.world_to_camera(joints)
                depths.append(cam[..., 2].min())
                inside.append(track.inside_fraction(joints))
                distances.append(np.linalg.norm(cam.mean(axis=1), axis=-1).mean())
    assert min(depths) > 0.1
    assert np.mean(inside) >= 0.97 and min(inside) >= 0.9
    assert 0.2 < np.median(distances) < 0.9


def test_no_up_axis_is_assumed(hands) -> None:
    """A rigidly moved world (GRAB's z-up, ARCTIC's unknown frame) gives the same views of the hand."""
    joints = hands[0]
    rot, shift = _random_rigid(np.random.default_rng(3))
    moved = joints @ rot.T + shift
    for seed in range(4):
        a = sample_camera_track(np.random.default_rng(seed), joints, 30.0)
        b = sample_camera_track(np.random.default_rng(seed), moved, 30.0)
        assert np.allclose(a.project(joints), b.project(moved), atol=1e-6)


def test_view_direction_mostly_sees_the_back_or_side_of_the_hand(hands) -> None:
    joints = hands[3]
    back, _ = hand_axes(joints)
    rng = np.random.default_rng(4)
    cosines = []
    for _ in range(200):
        track = sample_camera_track(rng, joints, 30.0, moving=False)
        to_camera = track.cam_to_world[0, :3, 3] - joints.mean(axis=(0, 1))
        cosines.append(to_camera @ back / np.linalg.norm(to_camera))
    cosines = np.asarray(cosines)
    assert np.mean(cosines > 0.3) > 0.5  # mostly the back of the hand
    assert 0.03 < np.mean(cosines < -0.3) < 0.3  # sometimes the palm


def test_static_and_moving_cameras(hands) -> None:
    joints = hands[1]
    rng = np.random.default_rng(5)
    static = sample_camera_track(rng, joints, 30.0, moving=False)
    assert np.allclose(static.cam_to_world, static.cam_to_world[0])
    moving = sample_camera_track(rng, joints, 30.0, moving=True)
    pos = moving.cam_to_world[:, :3, 3]
    assert np.ptp(pos, axis=0).max() > 1e-3
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1) * 30.0
    rot = moving.cam_to_world[:, :3, :3]
    rel = np.einsum("tji,tjk->tik", rot[:-1], rot[1:])
    turn = np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)) * 30.0
    assert speed.max() < 0.5 and turn.max() < 1.5  # a head, not a thrown camera


def test_canonical_space_of_a_moving_camera(hands) -> None:
    joints = hands[2]
    track = sample_camera_track(np.random.default_rng(6), joints, 30.0, moving=True)
    cam = track.world_to_camera(joints)
    can = to_canonical(cam, track.cam_to_world)
    first = track.cam_to_world[0]
    assert np.allclose(can, (joints - first[:3, 3]) @ first[:3, :3], atol=1e-9)
    # In canonical space the hand moves as in the world; in camera space the camera's motion adds in.
    assert not np.allclose(can[1:], cam[1:], atol=1e-4)


def test_seeded_and_validated(hands) -> None:
    a = sample_camera_track(np.random.default_rng(7), hands[0], 30.0)
    b = sample_camera_track(np.random.default_rng(7), hands[0], 30.0)
    assert a.camera == b.camera and np.array_equal(a.cam_to_world, b.cam_to_world)
    with pytest.raises(ValueError, match="shape"):
        sample_camera_track(np.random.default_rng(0), hands[0][:, :20], 30.0)


def test_left_hands_are_seen_from_their_back_too(hands) -> None:
    mirrored = hands[3] * np.array([-1.0, 1.0, 1.0])  # a left hand's keypoints
    back_r, _ = hand_axes(hands[3])
    back_l, _ = hand_axes(mirrored, "left")
    assert np.allclose(back_l, back_r * np.array([-1.0, 1.0, 1.0]), atol=1e-9)


def test_back_of_hand_axis_on_the_rest_hand() -> None:
    """The default hand's palm faces -y at rest (assets/hands/ATTRIBUTION.md), so its back is +y."""
    from engine.data.synthetic import hand_model_for

    model, _ = hand_model_for("default")
    with torch.inference_mode():
        rest = model(np.zeros((1, 45))).keypoints.numpy()
    back, forward = hand_axes(rest)
    assert back @ np.array([0.0, 1.0, 0.0]) > 0.95
    assert forward @ np.array([-1.0, 0.0, 0.0]) > 0.95  # fingers along -x
