"""GUI tests need a real X display (Xvfb): QOpenGLWidget cannot live on the offscreen platform."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.viewport import share_gl_contexts

# Before pytest-qt creates the QApplication, as the app does in run_app.
share_gl_contexts()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # pytest-xvfb starts Xvfb and sets DISPLAY before collection when Xvfb is installed.
    if os.environ.get("DISPLAY") or shutil.which("Xvfb"):
        return
    skip = pytest.mark.skip(reason="no display and no Xvfb: install xvfb (see .ci/run) to run GUI tests")
    for item in items:
        if "tests/app" in str(item.fspath):
            item.add_marker(skip)


# --------------------------------------------------------------------------- shared helpers


ENGINE_TIMEOUT_MS = 90_000


def wait_ready(qtbot, window) -> None:
    """Until the session is shown and the worker has loaded its engine."""
    qtbot.waitUntil(
        lambda: window.session is not None and bool(window.engine_name), timeout=ENGINE_TIMEOUT_MS
    )


def wait_idle(qtbot, window, timeout: int = 60_000) -> None:
    """Until the worker has nothing queued or running and its signals have been delivered."""
    qtbot.waitUntil(lambda: not window.worker.busy(), timeout=timeout)
    qtbot.wait(30)
    qtbot.waitUntil(lambda: not window._refresh_later.isActive(), timeout=timeout)  # views caught up


def send_drag(widget: QWidget, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
    """A left-button drag as real mouse events (press, moves with the button held, release)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mods = Qt.KeyboardModifier.NoModifier

    def send(kind: QEvent.Type, xy: np.ndarray, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
        local = QPointF(float(xy[0]), float(xy[1]))
        glob = QPointF(widget.mapToGlobal(local.toPoint()))
        QApplication.sendEvent(widget, QMouseEvent(kind, local, glob, button, buttons, mods))
        QApplication.processEvents()

    a, b = np.asarray(start, float), np.asarray(end, float)
    send(QEvent.Type.MouseMove, a, none, none)
    send(QEvent.Type.MouseButtonPress, a, left, left)
    for t in np.linspace(0, 1, steps)[1:]:
        time.sleep(0.005)
        send(QEvent.Type.MouseMove, a + t * (b - a), none, left)
    send(QEvent.Type.MouseButtonRelease, b, left, none)


@pytest.fixture(scope="session")
def demo_window(qapp, tmp_path_factory: pytest.TempPathFactory):
    """One window on the demo for the GUI tests (starting the engine process costs seconds)."""
    from app.main_window import MainWindow

    # Its own recovery folder: session fixtures are set up before the per-test user data folder.
    w = MainWindow(hand_model="default", recovery_dir=tmp_path_factory.mktemp("recovery"))
    w.resize(1200, 760)  # smaller than the app's default: Xvfb's software GL composes every pixel
    w.show()
    deadline = time.perf_counter() + ENGINE_TIMEOUT_MS / 1000
    while not (w.session is not None and w.engine_name) and time.perf_counter() < deadline:
        qapp.processEvents()
        time.sleep(0.005)
    assert w.session is not None and w.engine_name, "the demo window did not get ready"
    yield w
    w.close()
    w.deleteLater()
    qapp.processEvents()


@pytest.fixture
def window(demo_window, qtbot):
    """The module's window on a fresh demo session (no edits, no history, counters at zero)."""
    w = demo_window
    wait_idle(qtbot, w)
    w.play_button.setChecked(False)
    w.new_demo_session()
    w.worker.reset_counters()
    w.latencies_ms.clear()
    w.messages.clear()
    w.last_changed = None
    if w.error_box is not None:
        w.error_box.close()
    w.show_frame(0)
    w.activateWindow()
    qtbot.waitActive(w)
    wait_idle(qtbot, w)
    return w
