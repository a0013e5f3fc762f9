"""MediaPipe hand detection, offline, end to end: real clip, mirrored and rotated copies, no hand.

Ground truth for handedness on the real clip (looked at, frame 100 and 400): a right hand, palm
to the camera, fingers up, thumb on the picture's right, the arm rising from the right-hand side
of the person's body, in an ordinary (not mirrored) recording. Mirroring the pictures must turn
it into a left hand: that pins the MediaPipe label convention (docs/video.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.video.conditions import detect_conditions
from engine.video.decode import VideoReader
from engine.video.detect import HandDetector, HandDetectorError, default_model_path, detect_video
from engine.video.encode import write_video
from engine.video.track import track_hands

CLIP = "open_palm_1280x720_30fps.mp4"


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> Path:
    path = shared_data / "video" / CLIP
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return path


def test_model_ships_with_the_install_and_a_bad_path_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = default_model_path()
    assert path.name == "hand_landmarker.task" and path.stat().st_size > 1_000_000
    monkeypatch.setenv("UNIHAND_HAND_LANDMARKER", str(tmp_path / "missing.task"))
    with pytest.raises(HandDetectorError, match=r"missing\.task: no such model file"):
        default_model_path()
    (tmp_path / "junk.task").write_bytes(b"not a model")
    with pytest.raises(HandDetectorError, match="cannot load the hand landmarker model"):
        HandDetector(model_path=tmp_path / "junk.task")


def test_video_without_a_hand_gives_an_all_masked_track(tmp_path: Path) -> None:
    """A hand-free clip (smooth colour gradients) is a normal result, not an error."""
    yy, xx = np.mgrid[0:120, 0:160]
    frames = [
        np.stack([(xx + 3 * t) % 256, (yy * 2) % 256, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
        for t in range(8)
    ]
    path = write_video(tmp_path / "empty_room.mp4", frames, fps=24)
    calls: list[tuple[int, int]] = []
    (track,) = detect_conditions(path, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (8, 8) and len(calls) == 8
    assert track.num_detected == 0 and not track.conditions.kp2d_mask.any()
    assert track.conditions.num_frames == 8 and track.conditions.fps == 24.0
    np.testing.assert_array_equal(track.conditions.image_size, [160, 120])


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_clip_hand_in_nearly_every_frame_with_clip_length_fps_and_camera(clip: Path) -> None:
    (track,) = detect_conditions(clip, hand="auto")
    cond = track.conditions
    assert (cond.num_frames, cond.fps, cond.handedness) == (621, 30.0, "right")
    np.testing.assert_array_equal(cond.image_size, [1280, 720])
    np.testing.assert_array_equal(cond.K, [[1280.0, 0.0, 640.0], [0.0, 1280.0, 360.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(track.times, np.arange(621) / 30.0, atol=1e-6)
    assert track.num_detected >= 0.95 * 621
    assert cond.kp2d_mask[track.detected].mean() > 0.95
    assert (track.confidence[track.detected] >= 0.5).all()
    # Where the hand is (looked at): wrist near (785, 410) and middle fingertip near (700, 130)
    # in frame 400, thumb tip right of the pinky tip (right hand, palm to the camera).
    kp = cond.kp2d[400]
    assert np.linalg.norm(kp[0] - [785, 410]) < 40 and np.linalg.norm(kp[12] - [700, 130]) < 40
    assert kp[4, 0] > kp[20, 0]
    observed = cond.kp2d[cond.kp2d_mask]
    assert (observed >= 0).all() and (observed[:, 0] <= 1280).all() and (observed[:, 1] <= 720).all()


@pytest.mark.shared_data
def test_handedness_flips_in_a_mirrored_video_and_keypoints_mirror(clip: Path) -> None:
    with VideoReader(clip) as reader:
        plain = list(detect_video(reader, stop=12))
        mirrored = list(detect_video(reader, stop=12, mirror=True))
    assert all(len(f.hands) == 1 for f in plain + mirrored)
    assert {f.hands[0].handedness for f in plain} == {"right"}
    assert {f.hands[0].handedness for f in mirrored} == {"left"}
    a = np.array([f.hands[0].keypoints for f in plain])
    b = np.array([f.hands[0].keypoints for f in mirrored])
    b[..., 0] = 1280 - b[..., 0]
    assert np.median(np.linalg.norm(a - b, axis=-1)) < 6.0
    # Asking for the left hand of the plain clip: a track, all masked, no error.
    (left,) = track_hands(plain, hand="left")
    assert left.handedness == "left" and left.num_detected == 0


@pytest.mark.shared_data
def test_rotated_video_is_detected_upright(clip: Path, tmp_path: Path) -> None:
    """The clip stored as a portrait picture with a rotate-clockwise tag, as phones write it.

    Upright frames, and so the keypoints, must match those of the same frames stored upright.
    """
    with VideoReader(clip) as reader:
        pictures = [f.image[::2, ::2] for f in reader.frames(0, 10)]  # 640 x 360
    upright = write_video(tmp_path / "upright.mp4", pictures, fps=30)
    turned = write_video(tmp_path / "turned.mp4", [np.rot90(p, 1) for p in pictures], fps=30, rotation=-90)
    with VideoReader(turned) as reader:
        assert (reader.info.width, reader.info.height, reader.info.rotation) == (640, 360, 270)
    (a,) = detect_conditions(upright)
    (b,) = detect_conditions(turned)
    assert a.num_detected == b.num_detected == 10 and b.handedness == "right"
    np.testing.assert_array_equal(b.conditions.image_size, [640, 360])
    diff = np.linalg.norm(a.conditions.kp2d - b.conditions.kp2d, axis=-1)
    assert np.median(diff) < 3.0
