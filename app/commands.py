"""QUndoCommands over the session's own history (orange-canvas style: commands mutate a pure
model). The session records each edit and its generated motion; a command only moves the
session's cursor, so the QUndoStack and the session history stay one list."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtGui import QUndoCommand


class SessionHost(Protocol):
    def session_undo(self) -> None: ...
    def session_redo(self) -> None: ...


class SessionCommand(QUndoCommand):
    """One entry of the session history. Pushed after the edit was applied (`applied=True`), so
    its first redo (QUndoStack.push calls it) does nothing."""

    def __init__(self, host: SessionHost, label: str, applied: bool = True) -> None:
        super().__init__(label)
        self.host = host
        self._skip_redo = applied

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self.host.session_redo()

    def undo(self) -> None:
        self.host.session_undo()
