"""The main window under a real X server (Xvfb) with Mesa OpenGL: the demo loads off the GUI
thread, the viewport really draws the hand, the video view shows the frame, playback and the
animator's shortcuts work, and load errors never block."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QMessageBox

from app.main_window import MainWindow
from app.viewport import BACKGROUND

pytestmark = pytest.mark.gui


def _pixels(image) -> np.ndarray:
    image = image.convertToFormat(image.Format.Format_RGB888)
    arr = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    arr = arr.reshape(image.height(), image.bytesPerLine())
    return arr[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def _viewport_pixels(window: MainWindow) -> np.ndarray:
    return _pixels(window.viewport.grabFramebuffer())


def test_demo_loads_and_the_mesh_is_drawn(window: MainWindow) -> None:
    assert window.clip.num_frames == 180
    assert window.loader.isFinished()
    assert window.engine_label.text().startswith("Engine: ")
    pixels = _viewport_pixels(window).astype(int)
    skin = (pixels[..., 0] > pixels[..., 2] + 40) & (pixels[..., 0] > 120)
    background = np.all(np.abs(pixels - np.array(BACKGROUND)) < 6, axis=-1)
    assert skin.mean() > 0.01, "no skin-coloured pixels: the hand mesh was not drawn"
    assert background.mean() > 0.3, "the viewport background is missing"
    bone = (pixels[..., 2] > pixels[..., 0] + 60) & (pixels[..., 2] > 150)
    assert bone.sum() > 100, "no skeleton lines: the line shader did not draw"


def test_the_video_view_shows_the_frame_with_keypoints_and_confidence(window: MainWindow) -> None:
    video = _pixels(window.video_view.grab().toImage()).astype(int)
    skin = (video[..., 0] > video[..., 2] + 40) & (video[..., 0] > 150)
    assert skin.mean() > 0.01, "the rendered demo frame (the hand) is not in the video view"
    handles = window.video_view.handles
    np.testing.assert_allclose(handles.positions, window.track.arrays["kp2d_obs"][0])
    window.show_frame(120)  # the card hides the hand: no detections, handles sit on the motion
    projected = window.track.camera_K() @ window.track.arrays["joints"][120].T
    np.testing.assert_allclose(handles.positions, (projected[:2] / projected[2]).T, atol=1e-6)
    conf = window.timeline.confidence.getData()[1]
    assert conf[120] == 0 and conf[60] > 0.3


def test_playback_and_the_animators_shortcuts(window: MainWindow, qtbot) -> None:
    before = _viewport_pixels(window)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.play_button.isChecked()
    qtbot.waitUntil(lambda: window.frame >= 20, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.play_button.isChecked()
    assert not np.array_equal(before, _viewport_pixels(window)), "the picture did not change while playing"
    window.show_frame(50)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.frame == 51
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.frame == 49
    assert window.timeline.playhead.value() == 49
    assert window.timer.interval() == 33  # playback at the clip's 30 fps


def test_timeline_click_moves_the_playhead_and_shift_drag_selects(window: MainWindow, qtbot) -> None:
    tl = window.timeline
    vb = tl.plotItem.vb

    def at(frame: float) -> QPoint:
        return tl.mapFromScene(vb.mapViewToScene(QPointF(frame, 0.3)))

    qtbot.mouseClick(tl.viewport(), Qt.MouseButton.LeftButton, pos=at(90))
    assert window.frame == 90
    assert window.frame_label.text() == "frame 91/180"
    qtbot.mousePress(tl.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, at(30))
    qtbot.mouseMove(tl.viewport(), at(45))
    qtbot.mouseRelease(tl.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, at(45))
    assert window.selected_range() == (30, 46)


def test_screenshot_of_the_window(window: MainWindow, tmp_path: Path) -> None:
    window.show_frame(60)
    path = tmp_path / "window.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10_000


def test_a_broken_hand_model_is_reported_without_blocking(qtbot, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_hand.npz"
    w = MainWindow(hand_model=str(missing))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.load_error is not None, timeout=30_000)
    assert w.session is None
    assert "no_such_hand.npz" in w.load_error
    assert "Could not load the demo" in w.statusBar().currentMessage()
    assert w.error_box is not None and w.error_box.isVisible()
    assert w.error_box.windowModality() == Qt.WindowModality.NonModal
    assert QMessageBox.StandardButton.Ok in QMessageBox.StandardButtons(w.error_box.standardButtons())
    assert not w.play_button.isEnabled()


def test_timeline_flags_lints_and_marks_edits(qtbot) -> None:
    from app.timeline import Timeline

    tl = Timeline()
    qtbot.addWidget(tl)
    t = 50
    arrays = {
        "joints": np.zeros((t, 21, 3)),
        "kp2d_conf": np.ones((t, 21)),
        "uncertainty": np.zeros((t, 21)),
        "masked": np.zeros(t, bool),
        "locked": np.arange(t) < 10,
        "stale": np.zeros(t, bool),
        "drag2d_mask": np.zeros((t, 21), bool),
        "pin3d_mask": np.zeros((t, 21), bool),
    }
    arrays["drag2d_mask"][12, 3] = arrays["pin3d_mask"][30, 8] = True
    jitter = np.zeros(t, bool)
    jitter[[20, 21]] = True
    limits = np.zeros(t, bool)
    limits[40] = True
    tl.set_length(t)
    tl.set_track(arrays, jitter, limits)
    assert tl.jitter.getData()[0].tolist() == [20, 21]
    assert tl.limits.getData()[0].tolist() == [40]
    assert tl.drags.getData()[0].tolist() == [12] and tl.pins.getData()[0].tolist() == [30]
    assert (tl.locked.opts["x0"][0], tl.locked.opts["x1"][0]) == (-0.5, 9.5)
