"""Export dialog: every format of engine.export (FBX, GLB, BVH, NPZ), run off the GUI thread with
the exporter's stages in a progress bar; errors are shown in the dialog, never in a blocking box."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


def export_formats() -> dict[str, str]:
    """Suffix -> description of every format engine.export writes."""
    from engine.export import FORMATS

    return dict(FORMATS)


class ExportJob(QThread):
    done = Signal(str)
    failed = Signal(str)
    progressed = Signal(int, str)  # percent, the exporter's stage

    def __init__(self, motions: list, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.motions, self.path = motions, path

    def run(self) -> None:
        from engine.export import export_motions

        try:
            suffix = Path(self.path).suffix.lower()
            motions = self.motions[:1] if suffix in (".npz",) else self.motions
            result = export_motions(
                motions, self.path, lambda f, label: self.progressed.emit(round(100 * f), label)
            )
            notes = "; ".join(result.notes)
            self.done.emit(
                f"Exported {result.frames} frames ({', '.join(result.hands)}) to {result.path}"
                + (f" — {notes}" if notes else "")
            )
        except Exception as exc:  # shown in the dialog
            self.failed.emit(f"{type(exc).__name__}: {exc}")


class ExportDialog(QDialog):
    """`motions`: the session's hands (the active one first)."""

    def __init__(self, motions, parent: QWidget | None = None, default_dir: str = ".") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export motion")
        self.motions = motions if isinstance(motions, list) else [motions]
        self.formats = export_formats()
        self.format = QComboBox()
        for suffix, text in self.formats.items():
            self.format.addItem(f"{suffix[1:].upper()} — {text}", suffix)
        self.path = QLineEdit(str(Path(default_dir) / f"motion{next(iter(self.formats))}"))
        self.format.currentIndexChanged.connect(self._format_changed)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.clicked.connect(self.start)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("File", self.path)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.job: ExportJob | None = None
        self.result_message: str | None = None
        self.error: str | None = None
        self.stages: list[str] = []  # the last export's progress stages, in order

    def _format_changed(self) -> None:
        suffix = self.format.currentData()
        self.path.setText(str(Path(self.path.text()).with_suffix(suffix)))

    def start(self) -> None:
        self.export_button.setEnabled(False)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status.setText("Exporting…")
        self.stages: list[str] = []
        self.result_message = self.error = None
        self.job = ExportJob(self.motions, self.path.text(), self)
        self.job.done.connect(self._done)
        self.job.failed.connect(self._failed)
        self.job.progressed.connect(self._progressed)
        self.job.start()

    def _progressed(self, percent: int, stage: str) -> None:
        self.stages.append(stage)
        self.progress.setValue(percent)
        self.status.setText(f"Exporting: {stage}…")

    def _done(self, message: str) -> None:
        self.result_message = message
        self.progress.setValue(100)
        self.status.setText(message)
        self.export_button.setEnabled(True)

    def _failed(self, message: str) -> None:
        self.error = message
        self.progress.setValue(0)
        self.status.setText(f"Export failed: {message}")
        self.export_button.setEnabled(True)

    def closeEvent(self, event) -> None:
        if self.job is not None:
            self.job.wait(60_000)
        super().closeEvent(event)
