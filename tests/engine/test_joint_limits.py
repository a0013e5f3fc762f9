"""Anatomical frames and joint limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.hand import create_hand_model, get_hand_model_data
from engine.hand.joint_limits import (
    JOINT_LIMITS_DEG,
    AnatomicalFrames,
    anatomical_angles_torch,
    anatomical_to_pose,
    clamp_pose,
    limit_violation,
    limit_violation_torch,
    pose_to_anatomical,
    violation_rate,
)
from engine.hand.mirror import mirror_axis_angle
from engine.hand.poses import POSES_DEG, named_pose
from engine.hand.skeleton import MANO_FINGER_JOINTS, MP21_NAMES


@pytest.fixture(params=["default", "procedural"])
def frames(request: pytest.FixtureRequest) -> tuple[str, AnatomicalFrames]:
    return request.param, AnatomicalFrames.from_hand(get_hand_model_data(request.param))


def test_limits_table_is_ordered_and_covers_all_joints() -> None:
    assert JOINT_LIMITS_DEG.shape == (15, 3, 2)
    assert np.all(JOINT_LIMITS_DEG[..., 0] < 0) and np.all(JOINT_LIMITS_DEG[..., 1] > 0)


def test_frames_are_rotations(frames: tuple[str, AnatomicalFrames]) -> None:
    _, fr = frames
    for basis in fr.bases:
        np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-9)
        assert np.linalg.det(basis) == pytest.approx(1.0)


def test_anatomical_round_trip(frames: tuple[str, AnatomicalFrames]) -> None:
    _, fr = frames
    rng = np.random.default_rng(0)
    angles = rng.uniform(-0.8, 0.8, size=(5, 15, 3))
    np.testing.assert_allclose(pose_to_anatomical(anatomical_to_pose(angles, fr), fr), angles, atol=1e-9)


@pytest.mark.parametrize("pose_name", sorted(POSES_DEG))
def test_named_poses_are_within_limits(frames: tuple[str, AnatomicalFrames], pose_name: str) -> None:
    _, fr = frames
    assert violation_rate(named_pose(pose_name, fr), fr) == 0.0


def test_flexion_curls_each_finger_towards_the_palm(frames: tuple[str, AnatomicalFrames]) -> None:
    name, fr = frames
    model = create_hand_model(name, dtype=torch.float64)
    rest = model(torch.zeros(1, 45, dtype=torch.float64)).keypoints[0].numpy()
    for finger, chain in MANO_FINGER_JOINTS.items():
        for joint in chain:
            angles = np.zeros((15, 3))
            angles[joint - 1, 0] = np.radians(60)
            bent = model(torch.as_tensor(anatomical_to_pose(angles, fr))[None]).keypoints[0].numpy()
            tip = MP21_NAMES.index(f"{finger}_tip")
            moved = bent[tip] - rest[tip]
            assert np.linalg.norm(moved) > 0.005, (finger, joint)
            if finger != "thumb":  # palm faces -y in the model frame
                assert moved[1] < -0.003, (name, finger, joint, moved)
            # only this finger moves
            others = [i for i, n in enumerate(MP21_NAMES) if not n.startswith(finger)]
            np.testing.assert_allclose(bent[others], rest[others], atol=1e-9)


def test_hyperextension_and_sideways_bends_violate(frames: tuple[str, AnatomicalFrames]) -> None:
    _, fr = frames
    angles = np.zeros((2, 15, 3))
    angles[0, 1, 0] = np.radians(-60)  # index PIP bent backwards
    angles[1, 5, 1] = np.radians(40)  # middle DIP bent sideways
    pose = anatomical_to_pose(angles, fr)
    v = limit_violation(pose, fr)
    assert np.degrees(v[0, 1, 0]) == pytest.approx(55.0, abs=1e-6)
    assert np.degrees(v[1, 5, 1]) == pytest.approx(32.0, abs=1e-6)
    assert violation_rate(pose, fr) == pytest.approx(1 / 15)


def test_clamp_projects_into_range_and_keeps_valid_poses(frames: tuple[str, AnatomicalFrames]) -> None:
    _, fr = frames
    fist = named_pose("fist", fr)
    np.testing.assert_array_equal(clamp_pose(fist, fr), fist)
    angles = np.zeros((15, 3))
    angles[4, 0] = np.radians(170)
    clamped = clamp_pose(anatomical_to_pose(angles, fr), fr)
    assert violation_rate(clamped, fr, tol_deg=1e-6) == 0.0


def test_left_hand_limits_use_the_mirror(frames: tuple[str, AnatomicalFrames]) -> None:
    _, fr = frames
    fist = named_pose("fist", fr)
    left_fist = named_pose("fist", fr, side="left")
    np.testing.assert_allclose(left_fist, mirror_axis_angle(fist), atol=1e-12)
    assert violation_rate(left_fist, fr, side="left") == 0.0


def test_torch_twins_match_numpy_and_have_gradients(frames: tuple[str, AnatomicalFrames]) -> None:
    import roma

    _, fr = frames
    rng = np.random.default_rng(3)
    pose = rng.normal(scale=0.7, size=(6, 45))
    mats = roma.rotvec_to_rotmat(torch.as_tensor(pose).reshape(6, 15, 3)).requires_grad_(True)
    bases = torch.as_tensor(fr.bases)
    angles = anatomical_angles_torch(mats, bases)
    np.testing.assert_allclose(angles.detach().numpy(), pose_to_anatomical(pose, fr), atol=1e-9)
    violation = limit_violation_torch(anatomical_angles_torch(mats, bases))
    np.testing.assert_allclose(violation.detach().numpy(), limit_violation(pose, fr), atol=1e-9)
    (violation**2).sum().backward()
    assert torch.isfinite(mats.grad).all() and mats.grad.abs().sum() > 0
