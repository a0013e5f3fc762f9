"""Sessions in the app: saved atomically with their undo history and reopened; autosaved; a
killed app's edits are recovered at the next start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from app.main_window import MainWindow
from engine.editing.session import RecoveryFile
from tests.app.conftest import wait_idle, wait_ready

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def test_a_saved_session_reopens_with_its_undo_history(window: MainWindow, qtbot, tmp_path: Path) -> None:
    original = window.track.arrays["joints"].copy()
    uv = window.track.arrays["kp2d_obs"][40, 8]
    window.show_frame(40)
    window.drag_keypoint(8, float(uv[0] + 30), float(uv[1]))
    qtbot.waitUntil(lambda: len(window.latencies_ms) == 1, timeout=30_000)
    window.timeline.set_selection(100, 110)
    window.panel.lock_button.click()
    wait_idle(qtbot, window)
    edited = window.track.arrays["joints"].copy()
    path = tmp_path / "take.unihand.npz"
    assert window.save_session(str(path))
    assert window.undo_stack.isClean() and not window.session.dirty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.unihand.npz"]

    other = MainWindow(str(path))
    qtbot.addWidget(other)
    other.show()
    wait_ready(qtbot, other)
    assert other.session_path == str(path)
    np.testing.assert_array_equal(other.track.arrays["joints"], edited)
    assert other.undo_stack.count() == 2 and other.undo_stack.index() == 2
    assert other.track.arrays["locked"][100:110].all()
    other.undo_stack.undo()
    other.undo_stack.undo()
    np.testing.assert_array_equal(other.track.arrays["joints"], original)
    assert other.clip is not None  # the demo's frames came back with the demo session


def test_a_bad_session_file_is_reported_and_the_demo_opens(qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a session")
    w = MainWindow(str(bad))
    qtbot.addWidget(w)
    w.show()
    wait_ready(qtbot, w)
    assert any("broken.npz" in m for m in w.messages)
    assert w.session.video == "builtin:demo"


_KILLED_APP = textwrap.dedent(
    """
    import os, signal, sys, time
    from app.viewport import share_gl_contexts
    share_gl_contexts()
    from PySide6.QtWidgets import QApplication

    def main():
        app = QApplication(sys.argv)
        from app.main_window import MainWindow
        w = MainWindow(autosave_ms=150)
        w.show()
        def wait(condition):
            deadline = time.time() + 120
            while not condition():
                if time.time() > deadline:
                    sys.exit("timed out")
                app.processEvents()
                time.sleep(0.005)
        wait(lambda: w.session is not None and w.engine_name)
        w.show_frame(50)
        uv = w.track.arrays["kp2d_obs"][50, 8]
        w.drag_keypoint(8, float(uv[0]) + 25.0, float(uv[1]))
        wait(lambda: len(w.latencies_ms) == 1)
        edited = time.time()
        wait(lambda: w.recovery.exists() and os.path.getmtime(w.recovery.path) > edited)
        print("autosaved", flush=True)
        os.kill(w.worker.process.pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)  # a crash: no close event, no clean exit

    if __name__ == "__main__":
        main()
    """
)


@pytest.mark.slow
def test_edits_of_a_killed_app_are_recovered(qtbot, tmp_path: Path, _isolated_user_data: Path) -> None:
    script = tmp_path / "killed_app.py"
    script.write_text(_KILLED_APP)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )
    assert out.returncode == -9, out.stdout + out.stderr  # SIGKILL
    assert "autosaved" in out.stdout
    assert RecoveryFile().exists()

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    wait_ready(qtbot, w)
    assert w.recovered
    assert "Recovered" in w.statusBar().currentMessage()
    a = w.track.arrays
    assert a["drag2d_mask"][50, 8] and not a["stale"].any()
    assert w.undo_stack.count() == 1 and w.session.dirty
    demo_joints = w.clip.session.tracks["right"].arrays["joints"]
    assert not np.array_equal(a["joints"][50], demo_joints[50])
    w.undo_stack.undo()
    np.testing.assert_array_equal(w.track.arrays["joints"], demo_joints)
    # saving the recovered work clears the recovery file
    assert w.save_session(str(tmp_path / "rescued.npz"))
    assert not RecoveryFile().exists()


def test_autosave_writes_in_the_background_and_reports_failures(
    window: MainWindow, qtbot, tmp_path: Path
) -> None:
    """The timer's autosave only snapshots on the GUI thread; the write happens on the autosave
    thread, and a failed write (here: the folder is a file) reaches the user as a message."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    shipped = window.autosaver.recovery
    was_dirty = window.session.dirty
    window.session.dirty = True
    try:
        window.autosaver.recovery = RecoveryFile(blocker / "recovery")
        assert window.autosave()  # queued: returns before the write
        qtbot.waitUntil(lambda: any("Autosave failed" in m for m in window.messages), timeout=10_000)
        assert window.error_box is not None and window.error_box.thread() is window.thread()
        window.autosaver.recovery = good = RecoveryFile(tmp_path / "recovery")
        assert window.autosave()
        window.autosaver.wait()
        saved, _ = good.load()
        np.testing.assert_array_equal(saved.track("right").arrays["joints"], window.track.arrays["joints"])
        assert window.session.dirty  # an autosave is not a save
    finally:
        window.autosaver.recovery = shipped
        window.session.dirty = was_dirty
        if window.error_box is not None:
            window.error_box.close()
