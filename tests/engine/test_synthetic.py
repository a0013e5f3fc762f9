"""The synthetic generator: reproducible, inside the joint limits, plausible, doing what each kind says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data.synthetic import (
    SEQUENCE_KINDS,
    TIP_MP21,
    generate_corpus,
    generate_sequence,
    hand_model_for,
    minimum_jerk_interpolate,
    minimum_jerk_weight,
)
from engine.hand.joint_limits import limit_violation, pose_to_anatomical, violation_rate
from engine.motion.camera import to_canonical
from engine.motion.rotations import axis_angle_to_matrix

FINGER_KEYPOINTS = {
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}


@pytest.fixture(scope="module")
def per_kind():
    """One short sequence of every kind (module-scoped: generation is the slow part)."""
    return {kind: generate_sequence(11 + i, 75, kind) for i, kind in enumerate(SEQUENCE_KINDS)}


def straightness(joints: np.ndarray, finger: str) -> np.ndarray:
    """(T,) MCP-to-tip distance over the bone lengths: 1 straight, about 0.4 in a fist."""
    mcp, pip, dip, tip = (joints[:, k] for k in FINGER_KEYPOINTS[finger])
    length = sum(np.linalg.norm(b - a, axis=-1) for a, b in ((mcp, pip), (pip, dip), (dip, tip)))
    return np.linalg.norm(tip - mcp, axis=-1) / length


def test_same_seed_same_arrays_and_different_seeds_differ() -> None:
    a = generate_sequence(5, 30, "sign")
    b = generate_sequence(5, 30, "sign")
    c = generate_sequence(6, 30, "sign")
    assert a.motion == b.motion
    assert np.array_equal(a.camera.cam_to_world, b.camera.cam_to_world)
    assert a.camera.camera == b.camera.camera and a.holds == b.holds
    assert not np.allclose(a.motion.joints, c.motion.joints)
    assert not np.allclose(a.motion.betas, c.motion.betas)


def test_global_rng_state_is_neither_used_nor_changed() -> None:
    np.random.seed(0)
    torch.manual_seed(0)
    before = (np.random.random(), torch.rand(1).item())
    np.random.seed(0)
    torch.manual_seed(0)
    a = generate_sequence(3, 20, "idle")
    after = (np.random.random(), torch.rand(1).item())
    np.random.seed(123)
    assert generate_sequence(3, 20, "idle").motion == a.motion
    assert before == after


def test_every_kind_generates_valid_motion_inside_the_limits(per_kind) -> None:
    _, frames = hand_model_for("default")
    for kind, seq in per_kind.items():
        m = seq.motion
        assert seq.kind == kind
        assert (m.fps, m.handedness, m.hand_model, m.num_frames) == (30.0, "right", "default", 75)
        for arr in (m.hand_pose, m.global_orient, m.transl, m.joints, seq.camera.cam_to_world):
            assert np.isfinite(arr).all(), kind
        assert violation_rate(m.hand_pose, frames, tol_deg=0.0) == 0.0, kind
        assert limit_violation(m.hand_pose, frames).max() < 1e-9, kind
        assert np.all(np.abs(m.betas) <= 2.5)


def test_random_kind_and_bad_arguments() -> None:
    assert generate_sequence(1, 10).kind in SEQUENCE_KINDS
    with pytest.raises(ValueError, match="unknown kind"):
        generate_sequence(1, 10, "juggle")
    with pytest.raises(ValueError, match="num_frames"):
        generate_sequence(1, 0)


def test_speeds_are_human(per_kind) -> None:
    _, frames = hand_model_for("default")
    for kind, seq in per_kind.items():
        m = seq.motion
        wrist_speed = np.linalg.norm(np.diff(m.joints[:, 0], axis=0), axis=-1) * m.fps
        assert np.percentile(wrist_speed, 99) < 1.5, kind
        rot = axis_angle_to_matrix(torch.as_tensor(m.global_orient)).numpy()
        rel = np.einsum("tji,tjk->tik", rot[:-1], rot[1:])  # R_t^T R_{t+1}
        angle = np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)) * m.fps
        assert np.percentile(angle, 99) < 6.0, kind
        angles = pose_to_anatomical(m.hand_pose, frames)
        joint_speed = np.abs(np.diff(angles, axis=0)).max() * m.fps
        assert joint_speed < 25.0, kind  # rad/s; fast finger taps reach about 15


def test_minimum_jerk_has_zero_velocity_at_keyframes() -> None:
    s = np.linspace(0, 1, 101)
    w = minimum_jerk_weight(s)
    assert w[0] == 0 and w[-1] == 1 and np.all(np.diff(w) >= 0)
    keys_t = np.array([0.0, 10.0, 25.0, 40.0])
    keys_v = np.array([[0.0, 1.0], [1.0, -1.0], [1.0, 2.0], [-2.0, 0.0]])
    t = np.arange(0.0, 40.0001, 0.01)
    x = minimum_jerk_interpolate(keys_t, keys_v, t)
    v = np.gradient(x, t, axis=0)
    for k in keys_t:
        i = round(k / 0.01)
        assert np.allclose(x[i], keys_v[list(keys_t).index(k)])
        assert np.abs(v[i]).max() < 1e-3
    assert np.abs(v).max() > 0.1


def test_wrist_is_still_at_its_keyframes() -> None:
    seq = generate_sequence(21, 120, "grasp_release")
    speed = np.linalg.norm(np.gradient(seq.motion.joints[:, 0], axis=0), axis=-1) * 30.0
    assert speed.max() > 0.2
    keys = seq.wrist_key_frames[(seq.wrist_key_frames > 0) & (seq.wrist_key_frames < 119)]
    assert len(keys) >= 3
    assert speed[keys].max() < 0.05 * speed.max()


def test_keypoints_are_forward_kinematics_of_the_stored_parameters(per_kind) -> None:
    model, _ = hand_model_for("default")
    for seq in per_kind.values():
        m = seq.motion
        with torch.inference_mode():
            out = model(m.hand_pose, m.global_orient, m.betas, m.transl)
        assert np.allclose(out.keypoints.numpy(), m.joints, atol=1e-9)


def test_cameras_keep_the_hand_in_view_and_canonical_space_works(per_kind) -> None:
    for kind, seq in per_kind.items():
        track, joints = seq.camera, seq.motion.joints
        cam = track.world_to_camera(joints)
        assert cam[..., 2].min() > 0.1, kind
        assert track.inside_fraction(joints) >= 0.9, kind
        canonical = to_canonical(cam, track.cam_to_world)
        first = track.cam_to_world[0]
        expected = (joints - first[:3, 3]) @ first[:3, :3]
        assert np.allclose(canonical, expected, atol=1e-9), kind
        assert np.allclose(canonical[0], cam[0], atol=1e-12)


def test_pinch_brings_thumb_and_finger_tips_together() -> None:
    checked = 0
    for seed in (1, 2):
        seq = generate_sequence(seed, 60, "pinch")
        for start, end, label in seq.holds:
            finger = label.split(":")[1]
            tips = seq.motion.joints[(start + end) // 2]
            assert np.linalg.norm(tips[4] - tips[TIP_MP21[finger]]) < 0.02, label
            checked += 1
        # Apart between pinches: the hand really opens.
        gap = np.linalg.norm(seq.motion.joints[:, 4] - seq.motion.joints[:, 8], axis=-1)
        assert gap.max() > 0.03
    assert checked >= 2


def test_pointing_keeps_the_index_extended_and_the_others_flexed() -> None:
    seq = generate_sequence(4, 60, "point")
    (start, end, label) = seq.holds[0]
    joints = seq.motion.joints[start:end]
    assert label == "point" and end - start >= 10
    assert straightness(joints, "index").min() > 0.9
    for finger in ("middle", "ring", "pinky"):
        assert straightness(joints, finger).max() < 0.7, finger


def test_counting_extends_the_right_fingers() -> None:
    checked = 0
    for seed in range(3):
        seq = generate_sequence(100 + seed, 120, "count")
        for start, end, label in seq.holds:
            shown = set(label.split(":")[1].split(","))
            frame = seq.motion.joints[(start + end) // 2][None]
            for finger in FINGER_KEYPOINTS:
                value = straightness(frame, finger)[0]
                if finger in shown:
                    assert value > 0.88, (label, finger, value)
                else:
                    assert value < 0.7, (label, finger, value)
            checked += 1
    assert checked >= 5


def test_corpus_is_reproducible_and_varied() -> None:
    a = list(generate_corpus(4, seed=9, num_frames=15, kinds=("idle", "wave")))
    b = list(generate_corpus(4, seed=9, num_frames=15, kinds=("idle", "wave")))
    assert [s.kind for s in a] == ["idle", "wave", "idle", "wave"]
    assert all(x.motion == y.motion for x, y in zip(a, b, strict=True))
    assert len({s.seed for s in a}) == 4
    assert len({tuple(np.round(s.motion.betas, 6)) for s in a}) == 4
