"""Opening a video: the detections become a session at once (placeholder motion, every frame
stale), the engine's first estimate replaces it, and an unreadable video is reported without
blocking. Detection itself is engine.video's (tested there); here its output is built directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.demo_loader import build_demo_clip
from app.main_window import MainWindow
from app.video_loader import VideoData
from engine.video.conditions import VideoTrack
from engine.video.decode import VideoInfo
from tests.app.conftest import wait_idle, wait_ready

pytestmark = pytest.mark.gui


def _video_data(tmp_path: Path) -> VideoData:
    """What VideoLoader hands over for a 60-frame clip of the demo hand, seen by a detector."""
    clip = build_demo_clip()
    track = clip.session.tracks["right"]
    t = 60
    cond = track.conditions().slice(0, t)
    info = VideoInfo(
        path=tmp_path / "clip.mp4", width=640, height=480, fps=30.0, num_frames=t,
        times=np.arange(t) / 30.0, rotation=0, codec="h264", variable_frame_rate=False,
    )  # fmt: skip
    vt = VideoTrack(
        conditions=cond, times=info.times, confidence=np.full(t, 0.9),
        joint_confidence=track.arrays["kp2d_conf"][:t], detected=np.ones(t, bool), video=info,
    )  # fmt: skip
    return VideoData(info.path, [vt], clip.frames[:t])


def test_a_video_becomes_a_session_and_the_engine_estimates_its_motion(
    window: MainWindow, qtbot, tmp_path
) -> None:
    data = _video_data(tmp_path)
    window._on_video_loaded(data)
    track = window.track
    assert window.session.video == str(data.path)
    assert track.num_frames == 60 and window.timeline.num_frames == 60
    assert track.arrays["stale"].all()
    wait_idle(qtbot, window, timeout=120_000)
    assert not track.arrays["stale"].any(), "the first estimate never arrived"
    truth = build_demo_clip().session.tracks["right"].arrays["joints"][:60]
    err = np.linalg.norm(track.arrays["joints"] - truth, axis=-1)
    uv = track.arrays["joints"] @ track.camera_K().T
    px = np.linalg.norm(uv[..., :2] / uv[..., 2:] - track.arrays["kp2d_obs"], axis=-1)
    assert np.median(px) < 8.0, "the estimate does not match the detections on screen"
    assert np.median(err) < 0.15
    assert window.undo_stack.count() == 0  # the first estimate is the starting point, not an edit


def test_an_unreadable_video_is_reported_and_the_demo_opens(qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    w = MainWindow(str(bad))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: bool(w.messages), timeout=60_000)
    assert "Could not open the video" in w.messages[0] and "broken.mp4" in w.messages[0]
    wait_ready(qtbot, w)
    assert w.session.video == "builtin:demo"
