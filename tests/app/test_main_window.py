"""The main window under a real X server (Xvfb) with Mesa OpenGL: the demo loads off the GUI
thread and the viewport really draws the hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from app.viewport import BACKGROUND

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    w = MainWindow(hand_model="default")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    # Window shortcuts (space) fire only in the active window; Xvfb has no window manager to activate it.
    w.activateWindow()
    qtbot.waitActive(w)
    qtbot.waitUntil(lambda: w.clip is not None, timeout=60_000)
    return w


def _viewport_pixels(window: MainWindow) -> np.ndarray:
    image = window.viewport.grabFramebuffer().convertToFormat(
        window.viewport.grabFramebuffer().Format.Format_RGB888
    )
    ptr = image.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8, count=image.sizeInBytes()).reshape(
        image.height(), image.bytesPerLine()
    )
    return arr[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def test_demo_loads_and_the_mesh_is_drawn(window: MainWindow) -> None:
    assert window.clip.num_frames == 180
    assert window.loader.isFinished()
    pixels = _viewport_pixels(window).astype(int)
    skin = (pixels[..., 0] > pixels[..., 2] + 40) & (pixels[..., 0] > 120)
    background = np.all(np.abs(pixels - np.array(BACKGROUND)) < 6, axis=-1)
    assert skin.mean() > 0.02, "no skin-coloured pixels: the hand mesh was not drawn"
    assert background.mean() > 0.3, "the viewport background is missing"
    bone = (pixels[..., 2] > pixels[..., 0] + 60) & (pixels[..., 2] > 150)
    assert bone.sum() > 200, "no skeleton lines: the line shader did not draw"


def test_playback_advances_frames_and_space_toggles(window: MainWindow, qtbot) -> None:
    before = _viewport_pixels(window)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.play_button.isChecked()
    qtbot.waitUntil(lambda: window.frame >= 20, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.play_button.isChecked()
    assert not np.array_equal(before, _viewport_pixels(window)), "the picture did not change while playing"


def test_slider_scrubs_to_a_frame(window: MainWindow) -> None:
    window.slider.setValue(90)
    assert window.frame == 90
    assert window.frame_label.text() == "frame 91/180"


def test_screenshot_of_the_window(window: MainWindow, tmp_path: Path) -> None:
    window.slider.setValue(60)
    path = tmp_path / "window.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10_000


def test_a_broken_hand_model_is_reported_without_blocking(qtbot, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_hand.npz"
    w = MainWindow(hand_model=str(missing))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.load_error is not None, timeout=30_000)
    assert w.clip is None
    assert "no_such_hand.npz" in w.load_error
    assert "Could not load the demo" in w.statusBar().currentMessage()
    assert w.error_box is not None and w.error_box.isVisible()
    assert not w.play_button.isEnabled()
