"""HandMotion and Conditions: validation messages, immutability, channel helpers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.motion import Camera, Conditions, HandMotion
from tests.engine.motion_fixtures import random_motion


def make_motion(num_frames: int = 6, seed: int = 0, samples: int = 0) -> HandMotion:
    return random_motion(num_frames, seed=seed, samples=samples)


def make_conditions(num_frames: int = 6, seed: int = 0) -> Conditions:
    rng = np.random.default_rng(seed)
    kp3d_mask = rng.random((num_frames, 21)) > 0.3
    kp3d = rng.normal(size=(num_frames, 21, 3))
    kp3d[~kp3d_mask] = np.nan
    kp2d_mask = rng.random((num_frames, 21)) > 0.3
    kp2d = rng.uniform(0, 600, size=(num_frames, 21, 2))
    kp2d[~kp2d_mask] = np.nan
    mano_mask = rng.random(num_frames) > 0.5
    mano_pose = rng.normal(size=(num_frames, 48))
    mano_pose[~mano_mask] = np.nan
    return Conditions(
        fps=30.0,
        num_frames=num_frames,
        kp3d=kp3d,
        kp3d_mask=kp3d_mask,
        kp2d=kp2d,
        kp2d_mask=kp2d_mask,
        image_size=np.array([640, 480]),
        mano_pose=mano_pose,
        mano_transl=rng.normal(size=(num_frames, 3)),
        mano_betas=np.zeros(10),
        mano_mask=mano_mask,
    )


# --------------------------------------------------------------------------- HandMotion


def test_motion_basics() -> None:
    motion = make_motion(6, samples=3)
    assert motion.num_frames == 6 and motion.num_samples == 3
    assert motion.duration == pytest.approx(5 / 30)
    assert motion.global_orient.dtype == np.float64
    assert "T=6" in repr(motion)
    assert motion == make_motion(6, samples=3)
    assert motion != make_motion(6, seed=1, samples=3)


def test_motion_arrays_are_copied() -> None:
    pose = np.zeros((4, 45))
    motion = make_motion(4).replace(hand_pose=pose)
    pose[0, 0] = 1.0
    assert motion.hand_pose[0, 0] == 0.0
    with pytest.raises(AttributeError):
        motion.fps = 60.0  # type: ignore[misc]


def test_motion_replace_validates_and_slice() -> None:
    motion = make_motion(8, samples=2)
    part = motion.slice(2, 5)
    assert part.num_frames == 3
    np.testing.assert_array_equal(part.joints, motion.joints[2:5])
    np.testing.assert_array_equal(part.joints_samples, motion.joints_samples[:, 2:5])
    assert motion.slice(-2).num_frames == 2
    with pytest.raises(ValueError, match="empty"):
        motion.slice(5, 5)
    with pytest.raises(ValueError, match="handedness"):
        motion.replace(handedness="Right")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fps": 0.0}, "fps: must be a positive"),
        ({"fps": float("nan")}, "fps: must be a positive"),
        ({"fps": True}, "fps: expected a number"),
        ({"handedness": "both"}, "handedness: expected 'right' or 'left', got 'both'"),
        ({"hand_model": ""}, "hand_model"),
        ({"global_orient": np.zeros((0, 3))}, r"global_orient: expected shape \(T, 3\) with T >= 1"),
        ({"hand_pose": np.zeros((6, 48))}, r"hand_pose: expected shape \(6, 45\), got \(6, 48\)"),
        ({"transl": np.zeros((5, 3))}, "transl: has 5 frames, expected 6"),
        ({"betas": np.zeros(16)}, r"betas: expected shape \(10,\), got \(16,\)"),
        ({"joints": np.zeros((6, 21, 3), dtype=bool)}, "joints: expected a float array, got dtype bool"),
        ({"joints": np.full((6, 21, 3), "x")}, "joints: expected a float array"),
        ({"joints_std": np.zeros((6, 21))}, "joints_samples: missing"),
        ({"joints_samples": np.zeros((2, 6, 21, 3))}, "joints_std: missing"),
    ],
)
def test_motion_validation_messages(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_motion(6).replace(**changes)


def test_motion_nan_names_field_and_first_frame() -> None:
    motion = make_motion(6)
    joints = np.array(motion.joints)
    joints[4, 7, 1] = np.nan
    joints[5, 2, 0] = np.inf
    with pytest.raises(ValueError, match="joints: NaN or inf at frame 4, joint 7"):
        motion.replace(joints=joints)
    pose = np.array(motion.hand_pose)
    pose[3, 10] = np.inf
    with pytest.raises(ValueError, match="hand_pose: NaN or inf at frame 3"):
        motion.replace(hand_pose=pose)
    with pytest.raises(ValueError, match="betas: NaN or inf at index 2"):
        motion.replace(betas=np.array([0, 0, np.nan, 0, 0, 0, 0, 0, 0, 0]))
    samples = np.zeros((2, 6, 21, 3))
    samples[1, 3, 4, 0] = np.nan
    with pytest.raises(ValueError, match="joints_samples: NaN or inf at sample 1, frame 3, joint 4"):
        motion.replace(joints_samples=samples, joints_std=np.zeros((6, 21)))
    with pytest.raises(ValueError, match="joints_std: negative value at frame 0, joint 0"):
        motion.replace(joints_samples=np.zeros((2, 6, 21, 3)), joints_std=-np.ones((6, 21)))


def test_integer_arrays_are_accepted_as_floats() -> None:
    motion = make_motion(3).replace(betas=np.arange(10))
    assert motion.betas.dtype == np.float64


# --------------------------------------------------------------------------- Conditions


def test_conditions_empty_and_channels() -> None:
    cond = Conditions(fps=24, num_frames=10)
    assert cond.handedness == "right" and cond.channels == ()
    assert not cond.has("kp3d")
    assert cond.mask("kp3d") is None
    assert cond.observed_frames("mano").size == 0
    full = make_conditions(6)
    assert full.channels == ("kp3d", "kp2d", "mano")
    with pytest.raises(ValueError, match="unknown channel 'kp4d'"):
        full.has("kp4d")


def test_observed_frames() -> None:
    mask = np.zeros((5, 21), dtype=bool)
    mask[1, 3] = mask[3, :] = True
    kp3d = np.where(mask[..., None], np.zeros((5, 21, 3)), np.nan)
    cond = Conditions(fps=30, num_frames=5, kp3d=kp3d, kp3d_mask=mask)
    assert cond.observed_frames("kp3d").tolist() == [1, 3]
    mano_mask = np.array([True, False, False, False, True])
    cond = cond.with_channel(
        "mano", mano_pose=np.zeros((5, 48)), mano_transl=np.zeros((5, 3)), mano_betas=np.zeros(10),
        mano_mask=mano_mask,
    )  # fmt: skip
    assert cond.observed_frames("mano").tolist() == [0, 4]


def test_with_channel_without_and_slice() -> None:
    cond = make_conditions(8)
    no_kp3d = cond.without("kp3d")
    assert no_kp3d.channels == ("kp2d", "mano") and no_kp3d.kp3d_mask is None
    assert cond.has("kp3d")  # the original is unchanged
    back = no_kp3d.with_channel("kp3d", kp3d=cond.kp3d, kp3d_mask=cond.kp3d_mask)
    assert back == cond
    # Keys not given keep their values: a new K for the existing kp2d channel.
    with_k = cond.with_channel("kp2d", K=Camera.default(640, 480).K * [[2], [2], [1]])
    assert with_k.K[0, 0] == 1280
    np.testing.assert_array_equal(with_k.kp2d, cond.kp2d)
    with pytest.raises(ValueError, match="channel 'kp3d' has keys"):
        cond.with_channel("kp3d", kp2d=cond.kp2d)
    part = cond.slice(3, 7)
    assert part.num_frames == 4
    np.testing.assert_array_equal(part.kp2d_mask, cond.kp2d_mask[3:7])
    np.testing.assert_array_equal(part.mano_betas, cond.mano_betas)


def test_camera_from_conditions() -> None:
    cond = make_conditions(3)
    assert cond.camera() == Camera.default(640, 480)
    k = np.array([[500.0, 0, 300], [0, 500, 200], [0, 0, 1]])
    assert cond.replace(K=k).camera() == Camera(k, 640, 480)
    with pytest.raises(ValueError, match="no kp2d channel"):
        cond.without("kp2d").camera()


def test_nan_under_false_mask_is_fine_but_not_under_true_mask() -> None:
    cond = make_conditions(6)
    assert np.isnan(cond.kp3d).any()  # NaN under false masks is allowed
    kp3d = np.array(cond.kp3d)
    mask = np.array(cond.kp3d_mask)
    mask[2, 5] = True
    kp3d[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match="kp3d: NaN or inf under a true mask at frame 2, joint 5"):
        cond.replace(kp3d=kp3d, kp3d_mask=mask)
    pose = np.array(cond.mano_pose)
    mano_mask = np.ones(6, dtype=bool)
    pose[4, 0] = np.inf
    pose[:4] = 0.0
    with pytest.raises(ValueError, match="mano_pose: NaN or inf under a true mask at frame 4"):
        cond.replace(mano_pose=pose, mano_mask=mano_mask)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_frames": 0}, "num_frames: expected an integer >= 1"),
        ({"num_frames": 6.0}, "num_frames: expected an integer"),
        ({"handedness": "LEFT"}, "handedness: expected 'right' or 'left'"),
        ({"kp3d_mask": None}, "kp3d_mask: missing; kp3d needs kp3d, kp3d_mask"),
        ({"kp3d": None}, "kp3d: missing; kp3d_mask needs"),
        ({"image_size": None}, "image_size: missing"),
        ({"mano_betas": None}, "mano_betas: missing"),
        ({"kp3d_mask": np.ones((6, 21), dtype=np.int8)}, "kp3d_mask: expected a bool mask, got dtype int8"),
        ({"kp3d": np.zeros((6, 21, 3), dtype=bool)}, "kp3d: expected a float array, got dtype bool"),
        ({"kp2d": np.zeros((6, 21, 3))}, r"kp2d: expected shape \(6, 21, 2\), got \(6, 21, 3\)"),
        ({"kp2d_mask": np.ones((7, 21), dtype=bool)}, r"kp2d_mask: has 7 frames, expected 6 \(num_frames\)"),
        ({"mano_pose": np.zeros((6, 45))}, r"mano_pose: expected shape \(6, 48\), got \(6, 45\)"),
        ({"mano_mask": np.ones((6, 1), dtype=bool)}, r"mano_mask: expected shape \(6,\)"),
        ({"image_size": np.array([640.5, 480])}, "image_size: expected two positive integers"),
        ({"image_size": np.array([0, 480])}, "image_size: expected two positive integers"),
        ({"K": np.zeros((3, 3))}, "K: .*last row"),
        ({"K": np.eye(4)}, r"K: expected shape \(3, 3\)"),
        ({"mano_betas": np.full(10, np.nan)}, "mano_betas: NaN or inf at index 0"),
    ],
)
def test_conditions_validation_messages(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_conditions(6).replace(**changes)


def test_k_without_kp2d_is_refused() -> None:
    with pytest.raises(ValueError, match="kp2d: missing; K needs kp2d"):
        Conditions(fps=30, num_frames=2, K=np.eye(3))


def test_conditions_equality_treats_nan_as_equal() -> None:
    assert make_conditions(5, seed=3) == make_conditions(5, seed=3)
    assert make_conditions(5, seed=3) != make_conditions(5, seed=4)
    assert make_conditions(5) != make_conditions(5).replace(handedness="left")
