"""The control panel: track, sampling settings (samples, DDIM steps, guidance per modality, seed)
and the range / joint edit buttons."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.editing.request import MODALITIES


class StepProgress(QWidget):
    """A progress bar that repaints lazily: QProgressBar.setValue repaints synchronously, which in
    a window holding an OpenGL widget recomposes the whole window on every denoising step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(150, 18)
        self._value, self._maximum = 0, 1

    def setRange(self, minimum: int, maximum: int) -> None:
        self._maximum = max(1, maximum)
        self.update()

    def setValue(self, value: int) -> None:
        self._value = value
        self.update()

    def value(self) -> int:
        return self._value

    def maximum(self) -> int:
        return self._maximum

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QColor(120, 120, 120))
        p.setBrush(QColor(235, 235, 235))
        p.drawRect(r)
        done = r.adjusted(1, 1, -1, -1)
        done.setWidth(done.width() * min(1.0, self._value / self._maximum))
        p.fillRect(done, QColor(60, 140, 220))
        p.setPen(QColor(20, 20, 20))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, f"step {self._value}/{self._maximum}")


GUIDANCE_LABELS = {
    "kp2d": "Guidance 2D keypoints",
    "kp3d": "Guidance 3D pins",
    "mano": "Guidance locked MANO",
}


class ControlPanel(QWidget):
    settingsChanged = Signal()
    handChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(250)
        self.setMaximumWidth(320)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        track_box = QGroupBox("Track")
        form = QFormLayout(track_box)
        self.hand = QComboBox()
        self.hand.currentTextChanged.connect(self.handChanged)
        form.addRow("Hand", self.hand)
        self.joint_label = QLabel("joint: none (click a keypoint)")
        form.addRow(self.joint_label)
        layout.addWidget(track_box)

        sampling = QGroupBox("Sampling")
        form = QFormLayout(sampling)
        self.samples = QSpinBox(minimum=1, maximum=16, value=1)
        self.steps = QSpinBox(minimum=1, maximum=200, value=10)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        form.addRow("Samples", self.samples)
        form.addRow("DDIM steps", self.steps)
        self.guidance: dict[str, QDoubleSpinBox] = {}
        for modality in MODALITIES:
            spin = QDoubleSpinBox(minimum=0.0, maximum=10.0, singleStep=0.25, decimals=2)
            self.guidance[modality] = spin
            form.addRow(GUIDANCE_LABELS[modality], spin)
        form.addRow("Seed", self.seed)
        for w in (self.samples, self.steps, self.seed, *self.guidance.values()):
            w.valueChanged.connect(self.settingsChanged)
        layout.addWidget(sampling)

        edits = QGroupBox("Edit the selected frames")
        grid = QGridLayout(edits)
        self.mask_button = QPushButton("Mask")
        self.unmask_button = QPushButton("Unmask")
        self.lock_button = QPushButton("Lock")
        self.unlock_button = QPushButton("Unlock")
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.setStyleSheet("font-weight: bold")
        grid.addWidget(self.mask_button, 0, 0)
        grid.addWidget(self.unmask_button, 0, 1)
        grid.addWidget(self.lock_button, 1, 0)
        grid.addWidget(self.unlock_button, 1, 1)
        grid.addWidget(self.regenerate_button, 2, 0, 1, 2)
        hint = QLabel("Shift+drag on the timeline selects frames.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: gray")
        grid.addWidget(hint, 3, 0, 1, 2)
        layout.addWidget(edits)

        joint_box = QGroupBox("Selected joint at this frame")
        grid = QGridLayout(joint_box)
        self.unpin_button = QPushButton("Unpin 3D")
        self.clear_drag_button = QPushButton("Clear 2D drag")
        grid.addWidget(self.unpin_button, 0, 0)
        grid.addWidget(self.clear_drag_button, 0, 1)
        layout.addWidget(joint_box)

        view_box = QGroupBox("View")
        form = QFormLayout(view_box)
        self.onion = QCheckBox("Onion skin (±4 frames)")
        form.addRow(self.onion)
        layout.addWidget(view_box)
        layout.addStretch(1)

    def set_settings(self, settings) -> None:
        widgets = (self.samples, self.steps, self.seed, *self.guidance.values())
        for w in widgets:
            w.blockSignals(True)
        self.samples.setValue(settings.samples)
        self.steps.setValue(settings.steps)
        self.seed.setValue(settings.seed)
        for modality, spin in self.guidance.items():
            spin.setValue(float(settings.guidance.get(modality, 0.0)))
        for w in widgets:
            w.blockSignals(False)

    def read_settings(self, settings) -> None:
        settings.samples = self.samples.value()
        settings.steps = self.steps.value()
        settings.seed = self.seed.value()
        settings.guidance = {m: spin.value() for m, spin in self.guidance.items()}

    def set_hands(self, hands: list[str], active: str) -> None:
        self.hand.blockSignals(True)
        self.hand.clear()
        self.hand.addItems(hands)
        self.hand.setCurrentText(active)
        self.hand.blockSignals(False)
