"""Hand tracking over per-frame detections: identities, handedness votes, masks, hand choice.

The detections are built here (the tracker's input), so every case is exact and fast; the
MediaPipe detector itself is tested in test_video_detect.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.motion.camera import Camera
from engine.video.conditions import intrinsics, tracks_to_conditions
from engine.video.decode import VideoInfo, probe
from engine.video.detect import FrameDetections, HandDetection, joint_confidence
from engine.video.encode import write_video
from engine.video.track import track_hands

W, H = 1280, 720
# A hand-like spread of 21 points, about 120 px across.
_SHAPE = np.random.default_rng(0).uniform(-60.0, 60.0, size=(21, 2))


def det(x: float, y: float = 360.0, label: str = "right", score: float = 0.9) -> HandDetection:
    kp = _SHAPE + np.array([x, y])
    return HandDetection(
        keypoints=kp,
        joint_confidence=joint_confidence(kp, score, W, H),
        score=score,
        handedness=label,
        world=np.zeros((21, 3)),
    )


def frames_of(per_frame: list[list[HandDetection]], fps: float = 30.0) -> list[FrameDetections]:
    return [FrameDetections(t, t / fps, tuple(hands)) for t, hands in enumerate(per_frame)]


def centres(track, frames: list[int]) -> np.ndarray:
    return track.keypoints[frames].mean(axis=1)[:, 0]


def test_missed_frames_and_low_confidence_joints_are_masked_not_errors() -> None:
    per_frame = [[det(300 + 5 * t)] for t in range(20)]
    for t in (5, 6, 7):
        per_frame[t] = []
    low = det(400)
    low.joint_confidence[[4, 8]] = 0.2  # e.g. joints outside the picture
    per_frame[10] = [low]
    (track,) = track_hands(frames_of(per_frame), hand="auto")
    assert track.handedness == "right" and track.num_frames == 20 and track.num_detected == 17
    assert not track.detected[5:8].any() and np.isnan(track.keypoints[5:8]).all()
    assert not track.mask[5:8].any() and (track.confidence[5:8] == 0).all()
    assert track.mask[10].sum() == 19 and not track.mask[10, [4, 8]].any()
    np.testing.assert_array_equal(track.keypoints[10], low.keypoints)  # kept, only masked
    assert track.mask[[0, 4, 8, 19]].all()


def test_two_hands_give_one_track_each_despite_label_flicker() -> None:
    per_frame = []
    for t in range(40):
        right, left = det(300 + 2 * t, label="right"), det(950 - 2 * t, label="left")
        if t in (8, 9, 21):
            right = det(300 + 2 * t, label="left", score=0.6)  # flicker: both say "left"
        if t == 30:
            left = det(950 - 2 * t, label="right", score=0.55)
        per_frame.append([left, right] if t % 2 else [right, left])
    tracks = track_hands(frames_of(per_frame), hand="auto")
    assert sorted(tr.handedness for tr in tracks) == ["left", "right"]
    by = {tr.handedness: tr for tr in tracks}
    frames = list(range(40))
    np.testing.assert_allclose(centres(by["right"], frames), 300 + 2 * np.arange(40) + _SHAPE[:, 0].mean())
    np.testing.assert_allclose(centres(by["left"], frames), 950 - 2 * np.arange(40) + _SHAPE[:, 0].mean())
    assert by["right"].detected.all() and by["left"].detected.all()


def test_crossing_hands_keep_their_identity_when_labels_swap() -> None:
    """Hands pass each other; while they overlap the detector swaps their labels."""
    per_frame = []
    for t in range(30):
        xr, xl = 300 + 20 * t, 880 - 20 * t  # cross near t = 14.5
        swap = 12 <= t <= 17
        per_frame.append(
            [
                det(xr, 300, "left" if swap else "right", 0.6 if swap else 0.95),
                det(xl, 420, "right" if swap else "left"),
            ]
        )
    by = {tr.handedness: tr for tr in track_hands(frames_of(per_frame))}
    t = np.arange(30)
    np.testing.assert_allclose(centres(by["right"], list(t)), 300 + 20 * t + _SHAPE[:, 0].mean())
    np.testing.assert_allclose(centres(by["left"], list(t)), 880 - 20 * t + _SHAPE[:, 0].mean())


def test_hand_choice_right_left_and_auto() -> None:
    per_frame = [[det(300 + t)] for t in range(30)]
    per_frame[12] = [det(312), det(900, label="left", score=0.6)]  # one stray detection
    (auto,) = track_hands(frames_of(per_frame), hand="auto")  # the stray is below min_share
    assert auto.handedness == "right" and auto.num_detected == 30
    (left,) = track_hands(frames_of(per_frame), hand="left")
    assert left.handedness == "left" and left.num_detected == 1 and left.detected[12]
    (right,) = track_hands(frames_of(per_frame), hand="right")
    assert right.num_detected == 30
    with pytest.raises(ValueError, match="hand must be one of auto, right, left"):
        track_hands(frames_of(per_frame), hand="both")


def test_no_hand_anywhere_is_one_all_masked_track_with_valid_conditions() -> None:
    frames = frames_of([[] for _ in range(12)])
    (track,) = track_hands(frames, hand="auto")
    assert track.handedness == "right" and track.num_detected == 0 and not track.mask.any()
    (left,) = track_hands(frames, hand="left")
    assert left.handedness == "left" and left.num_detected == 0
    info = _info(num_frames=12)
    (vt,) = tracks_to_conditions([left], info)
    cond = vt.conditions
    assert cond.num_frames == 12 and cond.handedness == "left" and not cond.kp2d_mask.any()
    assert cond.observed_frames("kp2d").size == 0
    np.testing.assert_array_equal(cond.image_size, [W, H])


def test_joint_confidence_fades_outside_the_picture() -> None:
    kp = np.array([[100.0, 100.0]] * 19 + [[-10.0, 100.0], [100.0, H + 500.0]])
    conf = joint_confidence(kp, 0.8, W, H)
    assert conf[:19] == pytest.approx(0.8)
    assert 0.0 < conf[19] < 0.8 and conf[20] == 0.0


def _info(num_frames: int = 5, metadata: dict[str, str] | None = None) -> VideoInfo:
    return VideoInfo(
        path=Path("clip.mp4"),
        width=W,
        height=H,
        fps=30.0,
        num_frames=num_frames,
        times=np.arange(num_frames) / 30.0,
        rotation=0,
        codec="h264",
        variable_frame_rate=False,
        metadata=metadata or {},
    )


def test_intrinsics_default_and_from_a_35mm_focal_length_tag(tmp_path: Path) -> None:
    k, source = intrinsics(_info())
    assert source == "default"
    np.testing.assert_array_equal(k, Camera.default(W, H).K)
    k, source = intrinsics(_info(metadata={"com.apple.quicktime.camera.focal_length.35mm_equivalent": "26"}))
    focal = 26.0 * np.hypot(W, H) / np.hypot(36.0, 24.0)
    assert source == "metadata" and k[0, 0] == pytest.approx(focal) and k[1, 1] == pytest.approx(focal)
    assert (k[0, 2], k[1, 2]) == (W / 2, H / 2)
    # The tag is read from the file itself (Matroska keeps arbitrary tags).
    path = write_video(
        tmp_path / "tagged.mkv", [np.zeros((48, 64, 3), np.uint8)] * 2, metadata={"FOCAL_LENGTH_35MM": "28"}
    )
    k, source = intrinsics(probe(path))
    assert source == "metadata" and k[0, 0] == pytest.approx(28.0 * np.hypot(64, 48) / np.hypot(36.0, 24.0))
