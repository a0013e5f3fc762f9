"""The main window. This first version plays the built-in demo in the 3D viewport; the video view,
timeline editing and live infilling arrive with the desktop-editor issue."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.demo_loader import DemoClip, DemoLoader
from app.viewport import HandViewport, share_gl_contexts


class MainWindow(QMainWindow):
    def __init__(self, hand_model: str = "default") -> None:
        super().__init__()
        self.setWindowTitle("UniHand Studio")
        self.resize(1100, 760)
        self.clip: DemoClip | None = None
        self.load_error: str | None = None
        self.error_box: QMessageBox | None = None
        self.frame = 0

        self.viewport = HandViewport()
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setEnabled(False)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.frame_label = QLabel("frame –")

        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, stretch=1)
        controls.addWidget(self.frame_label)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.viewport, stretch=1)
        layout.addLayout(controls)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Loading the built-in demo…")

        self.timer = QTimer(self)
        self.timer.timeout.connect(self.step)
        self.play_button.toggled.connect(self.set_playing)
        self.slider.valueChanged.connect(self.show_frame)
        play_action = QAction("Play/Pause", self, shortcut=QKeySequence(Qt.Key.Key_Space))
        play_action.triggered.connect(self.play_button.toggle)
        self.addAction(play_action)

        self.loader = DemoLoader(hand_model, self)
        self.loader.loaded.connect(self.on_clip_loaded)
        self.loader.failed.connect(self.on_load_failed)
        self.loader.start()

    def on_clip_loaded(self, clip: DemoClip) -> None:
        self.clip = clip
        self.slider.setRange(0, clip.num_frames - 1)
        self.slider.setEnabled(True)
        self.play_button.setEnabled(True)
        self.timer.setInterval(round(1000 / clip.fps))
        self.show_frame(0)
        self.statusBar().showMessage(f"Demo: {clip.num_frames} frames at {clip.fps:g} fps — space plays")

    def on_load_failed(self, message: str) -> None:
        self.load_error = message
        self.statusBar().showMessage(f"Could not load the demo: {message}")
        # Window-modal and opened without a nested event loop: the app (and tests) never block on it.
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "UniHand Studio",
            f"Could not build the demo:\n{message}",
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_box = box
        box.open()

    def show_frame(self, frame: int) -> None:
        if self.clip is None:
            return
        self.frame = frame
        self.viewport.set_frame(self.clip.vertices[frame], self.clip.keypoints[frame], self.clip.faces)
        self.frame_label.setText(f"frame {frame + 1}/{self.clip.num_frames}")
        if self.slider.value() != frame:
            self.slider.setValue(frame)

    def set_playing(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.timer.start()
        else:
            self.timer.stop()

    def step(self) -> None:
        if self.clip is not None:
            self.show_frame((self.frame + 1) % self.clip.num_frames)

    def closeEvent(self, event) -> None:
        self.timer.stop()
        self.loader.wait(5000)
        super().closeEvent(event)


def run_app(path: str | None = None) -> int:
    """Open the main window (the demo when no path is given)."""
    if QApplication.instance() is None:
        share_gl_contexts()
    app = QApplication.instance() or QApplication(sys.argv)
    if path is not None:
        QMessageBox.information(
            None,
            "UniHand Studio",
            f"Opening videos and sessions is not available yet.\n{path}\nShowing the demo.",
        )
    window = MainWindow()
    window.show()
    return app.exec()
