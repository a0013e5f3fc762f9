"""Autosave off the GUI thread: the session is snapshotted on the GUI thread (a copy of the track
arrays, about a millisecond) and compressed and written by one background thread, so a write (25 ms
and growing with the undo history) never stalls drawing or input during inference."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal

from engine.editing.session import RecoveryFile, Session


class Autosaver(QObject):
    """Writes recovery files one at a time, in order; failures arrive as `failed(message)`."""

    failed = Signal(str)  # emitted from the writer thread, delivered on the GUI thread (queued)

    def __init__(self, recovery: RecoveryFile, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.recovery = recovery
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unihand-autosave")
        self._pending: Future | None = None

    def busy(self) -> bool:
        return self._pending is not None and not self._pending.done()

    def save_later(self, session: Session, source: str | None) -> bool:
        """Queue a write of `session` as it is now; False (nothing queued) while one is in flight,
        since the next timer tick writes a newer state anyway."""
        if self.busy():
            return False
        self._pending = self._pool.submit(self._write, session.snapshot(), source)
        return True

    def save_now(self, session: Session, source: str | None) -> None:
        """Write synchronously after any queued write (closing the window); raises on failure."""
        self.wait()
        self.recovery.save(session, source)

    def clear(self) -> None:
        """Remove the recovery file after any queued write, which would otherwise bring it back."""
        self.wait()
        self.recovery.clear()

    def wait(self) -> None:
        if self._pending is not None:
            self._pending.result()  # _write reports its own errors
            self._pending = None

    def shutdown(self) -> None:
        self.wait()
        self._pool.shutdown(wait=True)

    def _write(self, snapshot: dict, source: str | None) -> None:
        try:
            self.recovery.write(snapshot, source)
        except Exception as exc:  # a full disk, a removed folder: the user hears of it, work goes on
            self.failed.emit(str(exc))
