"""Frame-rate conversion: counts, exact round trips, exact interpolation of constant velocity, masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from engine.motion import (
    Conditions,
    HandMotion,
    covering_num_frames,
    resample_conditions,
    resample_motion,
    resample_times,
)
from tests.engine.motion_fixtures import random_motion

FPS_PAIRS = [(30.0, 60.0), (25.0, 50.0), (30.0, 90.0), (29.97, 59.94), (24.0, 48.0)]


def _motion(num_frames: int, fps: float = 30.0, seed: int = 0, samples: int = 0) -> HandMotion:
    return random_motion(num_frames, fps, seed, samples, handedness="left")


def _conditions(num_frames: int, fps: float = 30.0, seed: int = 0, density: float = 0.7) -> Conditions:
    """All channels, random masks, NaN under every false mask."""
    rng = np.random.default_rng(seed)

    def masked(shape: tuple[int, ...], mask: np.ndarray) -> np.ndarray:
        data = rng.normal(size=shape)
        data[~mask] = np.nan
        return data

    kp3d_mask = rng.random((num_frames, 21)) < density
    kp2d_mask = rng.random((num_frames, 21)) < density
    mano_mask = rng.random(num_frames) < density
    return Conditions(
        fps=fps,
        num_frames=num_frames,
        handedness="left",
        kp3d=masked((num_frames, 21, 3), kp3d_mask),
        kp3d_mask=kp3d_mask,
        kp2d=masked((num_frames, 21, 2), kp2d_mask) * 100 + 300,
        kp2d_mask=kp2d_mask,
        image_size=np.array([640, 480]),
        K=np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]]),
        mano_pose=masked((num_frames, 48), mano_mask),
        mano_transl=masked((num_frames, 3), mano_mask),
        mano_betas=rng.normal(size=10),
        mano_mask=mano_mask,
    )


# --------------------------------------------------------------------------- timing


def test_resample_times_count_rule() -> None:
    np.testing.assert_allclose(resample_times(5, 30, 60), np.arange(9) / 60)
    assert len(resample_times(9, 60, 30)) == 5
    assert len(resample_times(1, 30, 60)) == 1
    # 99 input periods at 24 fps = 4.125 s -> 123.75 periods at 30 fps -> floor + 1.
    assert len(resample_times(100, 24, 30)) == 124
    assert len(resample_times(100, 24, 30, num_out=130)) == 130
    # Rounding noise must not drop the last frame (29.97 <-> 59.94).
    assert len(resample_times(101, 29.97, 59.94)) == 201
    assert covering_num_frames(100, 24, 30) == 125
    assert covering_num_frames(5, 30, 60) == 9
    assert covering_num_frames(1, 24, 30) == 1
    with pytest.raises(ValueError, match="fps_out"):
        resample_times(5, 30, 0)
    with pytest.raises(ValueError, match="num_frames"):
        resample_times(0, 30, 60)


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize(("fps", "fps_up"), FPS_PAIRS)
def test_motion_round_trip_is_exact(fps: float, fps_up: float) -> None:
    motion = _motion(17, fps=fps, samples=2)
    up = resample_motion(motion, fps_up)
    assert up.fps == fps_up and up.num_frames == round(16 * fps_up / fps) + 1
    assert resample_motion(up, fps) == motion
    # The original frames appear unchanged at their timestamps in the upsampled motion.
    step = round(fps_up / fps)
    np.testing.assert_array_equal(up.hand_pose[::step], motion.hand_pose)


@pytest.mark.parametrize(("fps", "fps_up"), FPS_PAIRS)
def test_conditions_round_trip_is_exact(fps: float, fps_up: float) -> None:
    cond = _conditions(23, fps=fps, seed=1)
    back = resample_conditions(resample_conditions(cond, fps_up), fps)
    assert back == cond  # NaN under false masks included


def test_same_rate_is_identity() -> None:
    motion = _motion(9)
    assert resample_motion(motion, 30.0) == motion
    cond = _conditions(9)
    assert resample_conditions(cond, 30.0) == cond


@pytest.mark.parametrize("fps_out", [24.0, 45.0, 60.0, 120.0, 29.97, 7.0])
def test_constant_velocity_interpolates_exactly(fps_out: float) -> None:
    num_frames, fps = 31, 30.0
    t = np.arange(num_frames) / fps
    velocity = np.array([0.3, -0.2, 0.1])
    axis = np.array([0.0, 0.6, 0.8])
    # Constant angular velocity about a fixed axis, crossing pi (where axis-angle wraps).
    angles = 0.4 + 3.0 * t
    rotvecs = Rotation.from_rotvec(angles[:, None] * axis).as_rotvec()
    motion = _motion(num_frames).replace(
        transl=t[:, None] * velocity + [0, 0, 0.5],
        joints=np.broadcast_to((t[:, None] * velocity)[:, None, :], (num_frames, 21, 3)),
        global_orient=rotvecs,
        hand_pose=np.tile(rotvecs, 15),
    )
    out = resample_motion(motion, fps_out)
    t_out = resample_times(num_frames, fps, fps_out)
    assert out.num_frames == len(t_out)
    np.testing.assert_allclose(out.transl, t_out[:, None] * velocity + [0, 0, 0.5], atol=1e-12)
    np.testing.assert_allclose(out.joints[:, 5], t_out[:, None] * velocity, atol=1e-12)
    expected = Rotation.from_rotvec((0.4 + 3.0 * t_out)[:, None] * axis).as_matrix()
    got = Rotation.from_rotvec(out.global_orient).as_matrix()
    np.testing.assert_allclose(got, expected, atol=1e-10)
    got_fingers = Rotation.from_rotvec(out.hand_pose.reshape(-1, 3)).as_matrix().reshape(-1, 15, 3, 3)
    np.testing.assert_allclose(got_fingers, np.broadcast_to(expected[:, None], got_fingers.shape), atol=1e-10)


def test_keeps_static_fields_and_handedness() -> None:
    motion = _motion(10, samples=3)
    out = resample_motion(motion, 24.0)
    assert (out.handedness, out.hand_model, out.num_samples) == ("left", "default", 3)
    np.testing.assert_array_equal(out.betas, motion.betas)
    cond = resample_conditions(_conditions(10), 24.0)
    assert cond.handedness == "left"
    assert cond.camera() == _conditions(10).camera()


# --------------------------------------------------------------------------- masks


def test_mask_rule_on_upsampling() -> None:
    mask = np.array([True, True, False, True, False, False, True])
    cond = _conditions(7, seed=2).replace(
        mano_mask=mask, mano_pose=np.zeros((7, 48)), mano_transl=np.zeros((7, 3))
    )
    up = resample_conditions(cond, 60.0)
    # Even frames are the originals; odd frames need both neighbours observed.
    np.testing.assert_array_equal(up.mano_mask[::2], mask)
    np.testing.assert_array_equal(up.mano_mask[1::2], mask[:-1] & mask[1:])
    kp = cond.kp3d_mask
    np.testing.assert_array_equal(up.kp3d_mask[1::2], kp[:-1] & kp[1:])


def test_frames_past_the_end() -> None:
    cond = _conditions(100, fps=24.0, seed=3, density=1.0)
    count = covering_num_frames(100, 24, 30)
    c30 = resample_conditions(cond, 30.0, num_frames=count)
    assert c30.num_frames == 125
    # Frame 124 (4.133 s) lies past the last input frame (4.125 s): unobserved, not extrapolated.
    assert not c30.kp3d_mask[-1].any() and not c30.mano_mask[-1]
    assert c30.kp3d_mask[-2].all()
    # Motions hold the last frame instead, and come back at the input's rate and length.
    motion30 = _motion(125, fps=30.0, seed=4)
    back = resample_motion(motion30, 24.0, num_frames=100)
    assert (back.fps, back.num_frames) == (24.0, 100)
    held = resample_motion(_motion(5), 30.0, num_frames=8)
    np.testing.assert_array_equal(held.joints[5:], np.broadcast_to(held.joints[4], (3, 21, 3)))


@settings(max_examples=40, deadline=None)
@given(
    num_frames=st.integers(1, 40),
    fps_in=st.sampled_from([24.0, 25.0, 29.97, 30.0, 50.0, 60.0]),
    fps_out=st.sampled_from([10.0, 24.0, 30.0, 45.0, 60.0, 120.0]),
    seed=st.integers(0, 2**31),
    density=st.floats(0.0, 1.0),
)
def test_nan_under_false_masks_never_leaks(
    num_frames: int, fps_in: float, fps_out: float, seed: int, density: float
) -> None:
    cond = _conditions(num_frames, fps=fps_in, seed=seed, density=density)
    out = resample_conditions(cond, fps_out)  # constructing it validates finiteness under masks
    assert out.num_frames == len(resample_times(num_frames, fps_in, fps_out))
    for data, mask in ((out.kp3d, out.kp3d_mask), (out.kp2d, out.kp2d_mask)):
        assert np.isfinite(data[mask]).all()
    assert np.isfinite(out.mano_pose[out.mano_mask]).all()
    # An observed output needs observed inputs around it: never more observed frames than the rate allows.
    ratio = fps_out / fps_in
    assert out.mano_mask.sum() <= max(1, cond.mano_mask.sum()) * np.ceil(ratio) + 1
    # Observed values lie between the bracketing observed inputs (linear interpolation).
    lo = np.nanmin(np.where(cond.kp3d_mask[..., None], cond.kp3d, np.nan)) if cond.kp3d_mask.any() else 0
    hi = np.nanmax(np.where(cond.kp3d_mask[..., None], cond.kp3d, np.nan)) if cond.kp3d_mask.any() else 0
    if out.kp3d_mask.any():
        observed = out.kp3d[out.kp3d_mask]
        assert observed.min() >= lo - 1e-12 and observed.max() <= hi + 1e-12


@settings(max_examples=25, deadline=None)
@given(num_frames=st.integers(1, 30), seed=st.integers(0, 2**31), factor=st.sampled_from([2, 3, 4]))
def test_random_round_trips(num_frames: int, seed: int, factor: int) -> None:
    motion = _motion(num_frames, seed=seed, samples=seed % 3)
    assert resample_motion(resample_motion(motion, 30.0 * factor), 30.0) == motion
    cond = _conditions(num_frames, seed=seed, density=(seed % 10) / 9)
    assert resample_conditions(resample_conditions(cond, 30.0 * factor), 30.0) == cond
