"""The interpolation baseline honours the infilling contract: edits change only their window,
locked frames come back bit-exact, gaps are interpolated, progress is reported per step and a
cancel stops it; and a Session driven by it behaves (drag -> motion moves, undo -> exact)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.editing.baseline import InfillError, InterpolationInfiller, bridge_std
from engine.editing.request import InfillCancelled, InfillRequest
from engine.editing.session import Session, Track
from engine.motion.camera import Camera
from engine.motion.types import Conditions, HandMotion

T = 60
CAMERA = Camera.default(640, 480)


@pytest.fixture(scope="module")
def clip() -> tuple[HandMotion, Conditions]:
    """The demo performance (60 frames) and its exact 2D projections as detections."""
    import torch

    from engine.hand import create_hand_model
    from engine.hand.demo import demo_pose_track

    model = create_hand_model("default")
    pose, orient, transl = demo_pose_track(model.data, T)
    with torch.inference_mode():
        kp = model(pose, orient, None, transl).keypoints.double().numpy()
    motion = HandMotion(
        fps=30, handedness="right", hand_model="default", global_orient=orient, hand_pose=pose,
        transl=transl, betas=np.zeros(10), joints=kp,
    )  # fmt: skip
    cond = Conditions(
        fps=30, num_frames=T, kp2d=CAMERA.project(kp), kp2d_mask=np.ones((T, 21), bool),
        image_size=np.array(CAMERA.image_size),
    )  # fmt: skip
    return motion, cond


@pytest.fixture(scope="module")
def infiller() -> InterpolationInfiller:
    return InterpolationInfiller(margin=6)


def test_a_drag_moves_the_joint_and_changes_only_its_window(clip, infiller) -> None:
    motion, cond = clip
    session = Session({"right": Track.from_motion(motion, cond)})
    target = CAMERA.project(motion.joints[30, 8]) + np.array([30.0, 0.0])
    ticket = session.drag_keypoint("right", 30, 8, tuple(target))
    result = infiller(ticket.request)
    assert result.changed == (24, 37)
    new = result.motion.joints
    np.testing.assert_array_equal(new[:24], motion.joints[:24])
    np.testing.assert_array_equal(new[37:], motion.joints[37:])
    moved = CAMERA.project(new[30, 8])[0] - CAMERA.project(motion.joints[30, 8])[0]
    assert moved > 15.0, f"the dragged fingertip moved only {moved:.1f} px of 30"
    # the change fades out: no pop at the window's edge
    step = np.linalg.norm(new[24:37] - motion.joints[24:37], axis=-1).max(axis=-1)
    assert step[0] < 0.2 * step.max() and step[-1] < 0.2 * step.max()
    # through the session: applied, then undo restores the motion exactly
    assert session.apply_result(ticket, result)
    np.testing.assert_allclose(session.track("right").arrays["joints"], new)
    session.undo()
    np.testing.assert_array_equal(session.track("right").arrays["joints"], motion.joints)


def test_a_masked_range_is_interpolated_and_nothing_outside_its_window_changes(clip, infiller) -> None:
    motion, cond = clip
    session = Session({"right": Track.from_motion(motion, cond)})
    session.mask_frames("right", 20, 40)
    result = infiller(session.regenerate("right", 20, 40).request)
    lo, hi = result.changed
    assert (lo, hi) == (14, 46)
    new = result.motion
    np.testing.assert_array_equal(new.joints[:lo], motion.joints[:lo])
    np.testing.assert_array_equal(new.hand_pose[hi:], motion.hand_pose[hi:])
    # the wrist in the gap follows the straight line between the frames either side, within the fit
    line = np.linspace(motion.joints[19, 0], motion.joints[40, 0], 22)[1:-1]
    assert np.abs(new.joints[20:40, 0] - line).max() < 0.006
    std = new.joints_std
    assert std[30].mean() > std[10].mean() == 0.0  # spread grows inside the gap only


def test_locked_frames_come_back_bit_exact(clip, infiller) -> None:
    motion, cond = clip
    session = Session({"right": Track.from_motion(motion, cond)})
    session.lock_frames("right", 10, 20)
    session.mask_frames("right", 5, 25)
    result = infiller(session.regenerate("right", 5, 25).request)
    np.testing.assert_array_equal(result.motion.hand_pose[10:20], motion.hand_pose[10:20])
    np.testing.assert_array_equal(result.motion.global_orient[10:20], motion.global_orient[10:20])
    np.testing.assert_array_equal(result.motion.transl[10:20], motion.transl[10:20])


def test_progress_once_per_step_and_cancel_between_steps(clip, infiller) -> None:
    motion, cond = clip
    calls: list[tuple[int, int]] = []
    request = InfillRequest(conditions=cond, previous=motion, frames=(10, 12), samples=2)
    result = infiller(request, progress=lambda k, n, preview: calls.append((k, n)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert result.motion.num_samples == 2
    polls = []

    def cancel_after_two() -> bool:
        polls.append(1)
        return len(polls) >= 2

    with pytest.raises(InfillCancelled):
        infiller(request, should_cancel=cancel_after_two)
    assert len(polls) == 2


def test_whole_clip_from_3d_keypoints_and_from_2d_only(clip, infiller) -> None:
    motion, cond = clip
    mask = np.ones((T, 21), bool)
    mask[25:35] = False
    cond3d = Conditions(fps=30, num_frames=T, kp3d=motion.joints, kp3d_mask=mask)
    result = infiller(InfillRequest(conditions=cond3d))
    assert result.changed == (0, T)
    err = np.linalg.norm(result.motion.joints - motion.joints, axis=-1)
    assert err[mask].mean() < 0.004
    # 2D only: depth from the palm's size in pixels; right place on screen, rough depth
    result2d = infiller(InfillRequest(conditions=cond))
    px = np.linalg.norm(CAMERA.project(result2d.motion.joints) - cond.kp2d, axis=-1)
    assert np.median(px) < 8.0
    assert abs(np.median(result2d.motion.joints[..., 2]) - np.median(motion.joints[..., 2])) < 0.12


def test_nothing_to_infill_from_is_a_clear_error(infiller) -> None:
    with pytest.raises(InfillError, match="observe nothing"):
        infiller(InfillRequest(conditions=Conditions(fps=30, num_frames=10)))


def test_bridge_spread_is_zero_on_observations_and_peaks_mid_gap() -> None:
    observed = np.ones((11, 1), bool)
    observed[1:10] = False
    std = bridge_std(observed)[:, 0]
    assert std[0] == std[10] == 0.0 and np.argmax(std) == 5
