"""Editing in the window with the real worker and the real (baseline) engine: drags in the video
view and the 3D view, undo/redo, mask + regenerate, coalescing, cancellation, responsiveness,
errors that never block, settings, export."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer

from app.export_dialog import ExportDialog
from app.main_window import MainWindow
from engine.errors import UniHandError
from tests.app.conftest import send_drag, wait_idle, wait_ready

pytestmark = pytest.mark.gui
FRAME = 60


@pytest.fixture
def window(window):
    window.show_frame(FRAME)
    return window


def _joints(w: MainWindow) -> np.ndarray:
    return w.track.arrays["joints"].copy()


def _widget_xy(w: MainWindow, uv: np.ndarray) -> tuple[float, float]:
    """Image pixel -> position in the video view's viewport widget."""
    scene = w.video_view.view.mapViewToScene(QPointF(float(uv[0]), float(uv[1])))
    p = w.video_view.mapFromScene(scene)
    return float(p.x()), float(p.y())


def test_dragging_a_keypoint_changes_the_motion_and_undo_redo_restore_it(window: MainWindow, qtbot) -> None:
    before = _joints(window)
    uv = window.track.arrays["kp2d_obs"][FRAME, 8]
    start = _widget_xy(window, uv)
    end = _widget_xy(window, uv + np.array([40.0, 10.0]))
    send_drag(window.video_view.viewport(), start, end)
    a = window.track.arrays
    assert a["drag2d_mask"][FRAME, 8], "the drag did not become a 2D condition"
    np.testing.assert_allclose(a["drag2d"][FRAME, 8], uv + np.array([40.0, 10.0]), atol=3.0)
    qtbot.waitUntil(lambda: len(window.latencies_ms) == 1, timeout=30_000)
    after = _joints(window)
    moved = np.linalg.norm(after - before, axis=-1).max(axis=-1)
    assert moved[FRAME] > 0.005, "the motion did not change at the dragged frame"
    assert np.flatnonzero(moved > 0).min() >= FRAME - 10 and np.flatnonzero(moved > 0).max() <= FRAME + 10
    assert window.undo_stack.count() == 1
    assert "ms" in window.latency_label.text()
    wait_idle(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(_joints(window), before)
    assert not window.track.arrays["drag2d_mask"][FRAME, 8]
    wait_idle(qtbot, window)
    # the mesh caught up with the undo (skinned by the worker)
    np.testing.assert_allclose(window.vertices["right"][FRAME], window.clip.vertices[FRAME], atol=1e-5)
    qtbot.keyClick(
        window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    np.testing.assert_array_equal(_joints(window), after)


def test_dragging_a_joint_in_the_3d_view_pins_it(window: MainWindow, qtbot) -> None:
    vp = window.viewport
    joint = 12  # middle fingertip
    start, _ = vp.project_to_widget(window.track.arrays["joints"][FRAME, joint])
    send_drag(vp, tuple(start[0]), tuple(start[0] + [30.0, 0.0]))
    a = window.track.arrays
    assert a["pin3d_mask"][FRAME, joint], "the 3D drag did not pin the joint"
    assert window.selected_joint == joint
    shift = a["pin3d"][FRAME, joint] - _joints(window)[FRAME, joint]
    assert 0.005 < np.linalg.norm(shift) < 0.2
    qtbot.waitUntil(lambda: len(window.latencies_ms) == 1, timeout=30_000)
    got = np.linalg.norm(_joints(window)[FRAME, joint] - a["pin3d"][FRAME, joint])
    assert got < 0.5 * np.linalg.norm(shift), "the regenerated motion did not move towards the pin"
    pins = window.timeline.pins.getData()[0]
    assert FRAME in pins.astype(int)


def test_masking_a_range_and_regenerating_changes_only_that_range(window: MainWindow, qtbot) -> None:
    window.panel.samples.setValue(3)  # the spread curve comes from several samples
    qtbot.waitUntil(lambda: window.session.settings.samples == 3, timeout=5_000)
    before = _joints(window)
    window.timeline.set_selection(70, 100)
    window.panel.mask_button.click()
    assert window.track.arrays["masked"][70:100].all() and not window.track.arrays["masked"][100:].any()
    np.testing.assert_array_equal(_joints(window), before)  # masking alone generates nothing
    window.panel.regenerate_button.click()
    qtbot.waitUntil(lambda: len(window.latencies_ms) == 1, timeout=30_000)
    changed = np.flatnonzero(np.abs(_joints(window) - before).max(axis=(1, 2)) > 0)
    lo, hi = window.last_changed
    assert lo < 70 and hi > 100 and hi - lo < 30 + 2 * 20  # the range plus the engine's margin
    assert changed.min() >= lo and changed.max() < hi
    assert (np.abs(_joints(window) - before)[75:95].max(axis=(1, 2)) > 0).all()
    assert not window.track.arrays["stale"].any()
    assert window.undo_stack.count() == 2
    wait_idle(qtbot, window)  # the timeline follows the mesh by a few tens of milliseconds
    spread = window.timeline.uncertainty.getData()[1]  # the samples' spread: only where frames were filled
    assert spread[85] > 0 and spread[20] == 0
    masked = window.timeline.masked.opts
    assert (masked["x0"][0], masked["x1"][0]) == (69.5, 99.5)


def test_fifty_rapid_drags_run_far_fewer_inferences(window: MainWindow, qtbot) -> None:
    uv = window.track.arrays["kp2d_obs"][FRAME, 8].copy()
    for i in range(50):
        window.drag_keypoint(8, float(uv[0] + i), float(uv[1]))
    wait_idle(qtbot, window)
    worker = window.worker
    # A drag of observed frames only refines (~60 ms with the diffusion engine), so a few more
    # of them finish between events than with a slow engine: 10-14 measured.
    assert worker.infills_started <= 20, f"{worker.infills_started} inferences for 50 drags"
    assert worker.infills_skipped + worker.infills_cancelled >= 30
    assert window.undo_stack.count() == 50
    assert not window.track.arrays["stale"].any(), "the newest drag's motion never arrived"
    np.testing.assert_allclose(window.track.arrays["drag2d"][FRAME, 8], uv + np.array([49.0, 0.0]))


def test_a_superseded_inference_is_cancelled_between_steps(window: MainWindow, qtbot) -> None:
    uv = window.track.arrays["kp2d_obs"][FRAME, 8].copy()
    steps: list[tuple[int, int]] = []
    window.worker.progressed.connect(lambda job, k, n: steps.append((job, k)))
    # A regenerate of masked frames samples step by step (a drag of observed frames only refines,
    # in milliseconds, and has nothing to cancel).
    window.timeline.set_selection(20, 50)
    window.panel.mask_button.click()
    window.panel.regenerate_button.click()
    first = window._latest_job
    qtbot.waitUntil(lambda: (first, 0) in steps, timeout=30_000)  # running
    window.drag_keypoint(5, float(uv[0] - 30), float(uv[1]))
    wait_idle(qtbot, window)
    assert window.worker.infills_cancelled == 1
    assert window.worker.infills_finished == 1
    assert (first, 3) not in steps, "the superseded inference ran to its end"
    assert len(window.latencies_ms) == 1
    assert window.track.arrays["drag2d_mask"][FRAME, 5] and not window.track.arrays["stale"][FRAME]


def test_the_gui_thread_is_never_blocked_during_inference(window: MainWindow, qtbot) -> None:
    """Event-loop latency probe: a 5 ms timer keeps firing (every gap < 50 ms) while the engine
    computes, from just after the edit has been drawn until its result arrives. Also reports the
    drag-to-updated-mesh time (edit -> new mesh painted in the viewport)."""
    uv = window.track.arrays["kp2d_obs"][FRAME, 8].copy()
    window.drag_keypoint(8, float(uv[0] + 5), float(uv[1]))  # warm up the engine's models
    qtbot.waitUntil(lambda: len(window.latencies_ms) == 1, timeout=30_000)
    wait_idle(qtbot, window)
    gaps: list[float] = []
    recording = [False]
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        if recording[0]:
            gaps.append(now - last[0])
        last[0] = now

    # Connected after the window's own slot, so the tick interval in which a result is applied and
    # drawn is not counted: that is drawing, not inference.
    window.worker.jobFinished.connect(lambda _: recording.__setitem__(0, False))
    probe = QTimer()
    probe.setInterval(5)
    probe.timeout.connect(tick)
    probe.start()
    # Drags (a fast engine often finishes them within the edit's own redraw), then whole-clip
    # regenerates with 4 samples: real diffusion runs of about a second for the probe to watch.
    joints = (8, 12, 4, 16)
    edits = len(joints) + 2
    for i in range(edits):
        window.show_frame(40 + 10 * i)
        qtbot.wait(100)
        if i >= len(joints):
            window.panel.samples.setValue(4)
            window.timeline.set_selection(0, window.track.num_frames)
            window.panel.regenerate_button.click()
        else:
            joint = joints[i]
            p = window.track.arrays["kp2d_obs"][window.frame, joint]
            window.drag_keypoint(joint, float(p[0] + 25), float(p[1] - 10))
        qtbot.wait(120)  # the edit's own redraw (handles, timeline) is GUI work, not inference
        last[0], recording[0] = time.perf_counter(), window.worker.busy()
        qtbot.waitUntil(lambda n=i: len(window.latencies_ms) == n + 2, timeout=60_000)
        recording[0] = False
    probe.stop()
    window.panel.samples.setValue(1)
    assert window.previews_shown >= 1  # the regenerates run several windows: previews came and were drawn
    recorded = sum(gaps)
    worst_ms = max(gaps) * 1000
    median_ms = statistics.median(window.latencies_ms[1 : 1 + len(joints)])
    all_ms = [round(x) for x in window.latencies_ms[1:]]
    print(f"\nevent-loop worst gap during inference {worst_ms:.1f} ms over {recorded:.2f} s; "
          f"drag-to-mesh median {median_ms:.0f} ms (all: {all_ms})")  # fmt: skip
    assert recorded > 0.5 and len(gaps) > 50, "the probe measured too little"
    # Target 50 ms (issue 8); docs/app.md has the measurements. The bound is looser so that a
    # slower CI machine does not fail it, while work on the GUI thread (200-400 ms) still does.
    assert worst_ms < 100.0, f"the GUI thread was blocked for {worst_ms:.0f} ms during inference"


class _BrokenInfiller:
    """An engine that fails on a request (a corrupt checkpoint, a bad input): the window must say so."""

    def __call__(self, request, progress=None, should_cancel=None):
        raise UniHandError("the model produced NaN at frame 60")


def broken_engine() -> tuple[_BrokenInfiller, str]:
    """Engine factory (runs in the engine process, imported by name)."""
    return _BrokenInfiller(), "broken test engine"


def test_engine_errors_reach_the_user_without_blocking(qtbot) -> None:
    w = MainWindow(hand_model="default", engine_factory="tests.app.test_editing:broken_engine")
    qtbot.addWidget(w)
    w.show()
    wait_ready(qtbot, w)
    assert w.engine_label.text() == "Engine: broken test engine"
    uv = w.track.arrays["kp2d_obs"][0, 8]
    w.drag_keypoint(8, float(uv[0] + 10), float(uv[1]))
    qtbot.waitUntil(lambda: bool(w.messages), timeout=30_000)
    assert "NaN at frame 60" in w.messages[-1]
    assert w.error_box.isVisible() and w.error_box.windowModality() == Qt.WindowModality.NonModal
    # the window still works: the edit stays undoable, other edits still go through
    w.undo_stack.undo()
    assert not w.track.arrays["drag2d_mask"].any()
    w.timeline.set_selection(10, 20)
    w.panel.lock_button.click()
    assert w.track.arrays["locked"][10:20].all()


def test_sampling_settings_from_the_panel_reach_the_requests(window: MainWindow, qtbot) -> None:
    panel = window.panel
    panel.steps.setValue(25)
    panel.samples.setValue(3)
    panel.seed.setValue(7)
    panel.guidance["kp3d"].setValue(4.5)
    s = window.session.settings
    assert (s.steps, s.samples, s.seed, s.guidance["kp3d"]) == (25, 3, 7, 4.5)
    req = window.session.ticket("right", (0, 5)).request
    assert (req.steps, req.samples, req.seed, req.guidance["kp3d"]) == (25, 3, 7, 4.5)


def test_export_dialog_writes_the_motion(window: MainWindow, qtbot, tmp_path: Path) -> None:
    from engine.motion.io import load_motion

    dialog = ExportDialog([window.track.motion()], window, str(tmp_path))
    qtbot.addWidget(dialog)
    index = dialog.format.findData(".npz")
    dialog.format.setCurrentIndex(index)
    dialog.path.setText(str(tmp_path / "take1.npz"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.result_message is not None or dialog.error is not None, timeout=30_000)
    assert dialog.error is None, dialog.error
    loaded = load_motion(tmp_path / "take1.npz")
    np.testing.assert_allclose(loaded.joints, window.track.arrays["joints"])
    assert dialog.format.count() == 4
    assert dialog.stages[0] == "checking the motion" and dialog.progress.value() == 100


def test_export_dialog_shows_blenders_stages_for_fbx(window: MainWindow, qtbot, tmp_path: Path) -> None:
    from engine.export.fbx import inspect_in_blender
    from engine.export.tools import blender_python
    from tests.engine.test_export import require_tool

    require_tool(blender_python() is not None, "Blender as a module (bpy 5.0.1, own environment)")
    dialog = ExportDialog([window.track.motion()], window, str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData(".fbx"))
    dialog.path.setText(str(tmp_path / "take1.fbx"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.result_message is not None or dialog.error is not None, timeout=120_000)
    assert dialog.error is None, dialog.error
    # The bar moved through Blender's own stages, in order, to the end.
    assert dialog.stages == [
        "checking the motion", "building the rig", "starting Blender", "Blender started",
        "built the right hand", "writing the FBX", "done",
    ]  # fmt: skip
    assert dialog.progress.value() == 100
    view = inspect_in_blender(tmp_path / "take1.fbx", window.track.fps, max_frames=2)
    assert view.keyed_frames[2] == window.track.num_frames


def test_a_crashed_engine_is_reported_and_restarted(window: MainWindow, qtbot) -> None:
    import os
    import signal

    uv = window.track.arrays["kp2d_obs"][FRAME, 8].copy()
    os.kill(window.worker.process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: window.engine_name.startswith("restarting"), timeout=30_000)
    qtbot.waitUntil(lambda: not window.engine_name.startswith("restarting"), timeout=90_000)
    window.drag_keypoint(8, float(uv[0] + 20), float(uv[1]))
    qtbot.waitUntil(lambda: len(window.latencies_ms) == 1, timeout=30_000)
    assert not window.track.arrays["stale"].any()
