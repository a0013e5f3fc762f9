"""The main window: video view, 3D viewport, timeline and control panel around one `Session`.

Every edit goes through the session (engine/editing/session.py), is pushed on the QUndoStack as a
`SessionCommand`, and, when it needs new motion, is sent to the one background worker
(app/worker.py) whose result comes back as a queued signal. The GUI thread only does numpy and
drawing. Errors reach the user in the status bar and a non-modal message box, never a blocking
dialog. The session is autosaved for crash recovery (engine.editing.session.RecoveryFile).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.autosave import Autosaver
from app.commands import SessionCommand
from app.demo_loader import DEMO_VIDEO, DemoClip, DemoLoader, fresh_demo_session
from app.engine_process import DEFAULT_FACTORY
from app.panel import ControlPanel, StepProgress
from app.timeline import Timeline
from app.video_view import VideoView
from app.viewport import HandViewport, share_gl_contexts
from app.worker import EngineWorker, JobResult

GENERATIVE = ("drag_keypoint", "clear_drag", "pin_joint", "unpin_joint", "regenerate")
ONION_OFFSET = 4
PROGRESS_AFTER_S = 0.25  # show a job's progress once it has run this long
REDRAW_DURING_JOB_S = 0.2  # then redraw the progress bar, and a preview, at most this often
REFRESH_AFTER_MS = 40  # after a result: the mesh at once, the other views this much later


class MainWindow(QMainWindow):
    def __init__(
        self,
        path: str | None = None,
        hand_model: str = "default",
        recovery_dir: str | Path | None = None,
        engine_factory: str = DEFAULT_FACTORY,
        autosave_ms: int = 10_000,
    ) -> None:
        super().__init__()
        from engine.editing.session import RecoveryFile

        self.setWindowTitle("UniHand Studio")
        self.resize(1500, 900)
        self.hand_model = hand_model
        self.session = None  # engine.editing.session.Session
        self.session_path: str | None = None
        self.clip: DemoClip | None = None  # the demo's rendered frames, when the demo is open
        self.frames: np.ndarray | None = None  # video frames (T,h,w,3) uint8, if any
        self.vertices: dict[str, np.ndarray] = {}  # per hand (T,V,3) float32
        self.faces: dict[str, np.ndarray] = {}
        self.lints: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.hand = "right"
        self.frame = 0
        self.selected_joint: int | None = None
        self.load_error: str | None = None
        self.error_box: QMessageBox | None = None
        self.messages: list[str] = []  # every error shown to the user, newest last
        self.recovered = False
        self.engine_name = ""
        self.latencies_ms: list[float] = []
        self.last_changed: tuple[int, int] | None = None  # frames the newest result recomputed
        self._job_started: dict[int, float] = {}
        self._job_session: dict[int, object] = {}  # job id -> the session it was made for
        self._latency_start: float | None = None
        self._progress_total = 1
        self._progress_drawn = self._preview_drawn = 0.0
        self.previews_shown = 0  # skeleton previews drawn during long jobs
        self._status_later: str | None = None
        self._latest_job = 0
        self._quiet = False
        self.recovery = RecoveryFile(recovery_dir)
        self.autosaver = Autosaver(self.recovery, self)
        # Emitted on the writer thread; queued to this window's (the GUI) thread.
        self.autosaver.failed.connect(self._autosave_failed)

        self._build_widgets()
        self._build_actions()
        self.viewport.on_painted = self._mesh_painted

        self.worker = EngineWorker(engine_factory, self)
        self.worker.engineReady.connect(self._on_engine_ready)
        self.worker.progressed.connect(self._on_progress)
        self.worker.previewed.connect(self._on_preview)
        self.worker.jobFinished.connect(self._on_job_finished)
        self.worker.jobFailed.connect(self._on_job_failed)
        self.worker.jobCancelled.connect(self._on_job_cancelled)
        self.worker.start()

        self._refresh_later = QTimer(self)
        self._refresh_later.setSingleShot(True)
        self._refresh_later.setInterval(REFRESH_AFTER_MS)
        self._refresh_later.timeout.connect(self._refresh_views)

        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(autosave_ms)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

        self.loader: DemoLoader | None = None
        self._pending_session = None
        if self.recovery.exists():
            self._recover()
        elif path is not None:
            self.open_path(path)
        else:
            self._start_demo()

    # ----------------------------------------------------------------- layout

    def _build_widgets(self) -> None:
        self.video_view = VideoView()
        self.viewport = HandViewport()
        self.timeline = Timeline()
        self.panel = ControlPanel()
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setEnabled(False)
        self.frame_label = QLabel("frame –")
        self.frame_label.setMinimumWidth(110)

        views = QSplitter(Qt.Orientation.Horizontal)
        views.addWidget(self.video_view)
        views.addWidget(self.viewport)
        views.setSizes([620, 520])
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(views)
        top.addWidget(self.panel)
        top.setStretchFactor(0, 1)
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.frame_label)
        controls.addStretch(1)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addLayout(controls)
        bl.addWidget(self.timeline)
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(bottom)
        main.setSizes([640, 230])
        self.setCentralWidget(main)

        self.engine_label = QLabel("Engine: starting…")
        self.progress = StepProgress()
        self.latency_label = QLabel("last edit: –")
        for w in (self.engine_label, self.progress, self.latency_label):
            self.statusBar().addPermanentWidget(w)
        self.statusBar().showMessage("Loading the built-in demo…")

        self.timer = QTimer(self)
        self.timer.timeout.connect(self.step)
        self.play_button.toggled.connect(self.set_playing)
        self.timeline.frameChanged.connect(self.show_frame)
        self.video_view.keypointDragged.connect(self.drag_keypoint)
        self.video_view.jointPicked.connect(self.select_joint)
        self.viewport.jointDragged.connect(self.pin_joint)
        self.viewport.jointPicked.connect(self.select_joint)
        p = self.panel
        p.mask_button.clicked.connect(lambda: self.range_edit("mask"))
        p.unmask_button.clicked.connect(lambda: self.range_edit("unmask"))
        p.lock_button.clicked.connect(lambda: self.range_edit("lock"))
        p.unlock_button.clicked.connect(lambda: self.range_edit("unlock"))
        p.regenerate_button.clicked.connect(lambda: self.range_edit("regenerate"))
        p.unpin_button.clicked.connect(self.unpin_selected)
        p.clear_drag_button.clicked.connect(self.clear_selected_drag)
        p.settingsChanged.connect(self._settings_changed)
        p.handChanged.connect(self.set_hand)
        p.onion.toggled.connect(lambda _: self.show_frame(self.frame))

    def _build_actions(self) -> None:
        self.undo_stack = QUndoStack(self)
        undo = self.undo_stack.createUndoAction(self, "Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_stack.createRedoAction(self, "Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.undo_action, self.redo_action = undo, redo

        def action(text: str, shortcut, slot) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(action("New demo session", None, self.new_demo_session))
        file_menu.addAction(action("Open session…", QKeySequence.StandardKey.Open, self.open_dialog))
        file_menu.addAction(action("Save session", QKeySequence.StandardKey.Save, self.save))
        file_menu.addAction(action("Save session as…", QKeySequence("Ctrl+Shift+S"), self.save_as_dialog))
        file_menu.addAction(action("Export motion…", QKeySequence("Ctrl+E"), self.export_dialog))
        file_menu.addSeparator()
        file_menu.addAction(action("Quit", QKeySequence.StandardKey.Quit, self.close))
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(undo)
        edit_menu.addAction(redo)
        self.addAction(undo)
        self.addAction(redo)
        edit_menu.addSeparator()
        edit_menu.addAction(
            action("Regenerate selection", QKeySequence("R"), lambda: self.range_edit("regenerate"))
        )
        edit_menu.addAction(action("Mask selection", QKeySequence("M"), lambda: self.range_edit("mask")))
        edit_menu.addAction(action("Lock selection", QKeySequence("L"), lambda: self.range_edit("lock")))
        play_menu = self.menuBar().addMenu("&Playback")
        play_menu.addAction(action("Play/Pause", Qt.Key.Key_Space, self.play_button.toggle))
        play_menu.addAction(action("Next frame", Qt.Key.Key_Right, lambda: self.step(1)))
        play_menu.addAction(action("Previous frame", Qt.Key.Key_Left, lambda: self.step(-1)))
        play_menu.addAction(action("First frame", Qt.Key.Key_Home, lambda: self.show_frame(0)))

    # ----------------------------------------------------------------- loading

    def _start_demo(self, recovered=None) -> None:
        self._pending_session = recovered
        self.loader = DemoLoader(self.hand_model, self)
        self.loader.loaded.connect(self.on_clip_loaded)
        self.loader.failed.connect(self.on_load_failed)
        self.loader.start()

    def on_clip_loaded(self, clip: DemoClip) -> None:
        self.clip = clip
        recovered, self._pending_session = self._pending_session, None
        if recovered is not None:
            self.install_session(recovered, frames=clip.frames, source=None)
            self.statusBar().showMessage("Recovered the unsaved edits of the last run (autosave)")
        else:
            session = fresh_demo_session(clip)
            self.install_session(
                session,
                frames=clip.frames,
                vertices={"right": clip.vertices.copy()},
                faces={"right": clip.faces},
            )
            self.statusBar().showMessage(
                f"Demo: {clip.num_frames} frames at {clip.fps:g} fps — drag a keypoint, drag a joint in 3D "
                "to pin "
                "it, shift+drag the timeline and Regenerate; space plays"
            )

    def new_demo_session(self) -> None:
        """Start over on the built-in demo (its rendered frames are kept)."""
        if self.clip is None:
            self._start_demo()
            return
        self.selected_joint = None
        self.timeline.selection.setVisible(False)
        self.session_path = None
        self.install_session(
            fresh_demo_session(self.clip),
            frames=self.clip.frames,
            vertices={"right": self.clip.vertices.copy()},
            faces={"right": self.clip.faces},
        )

    def on_load_failed(self, message: str) -> None:
        self.load_error = message
        self.notify_error(f"Could not load the demo: {message}")

    def _recover(self) -> None:
        try:
            session, source = self.recovery.load()
        except Exception as exc:
            bad = self.recovery.path.with_suffix(".unreadable")
            self.recovery.path.replace(bad)
            self.notify_error(f"The autosave could not be read ({exc}); kept as {bad.name}")
            self._start_demo()
            return
        self.recovered = True
        self.session_path = source
        if session.video == DEMO_VIDEO:
            self._start_demo(recovered=session)
        else:
            self.install_session(session, frames=None, source=source)
            self.statusBar().showMessage("Recovered the unsaved edits of the last run (autosave)")

    def open_path(self, path: str) -> None:
        p = Path(path)
        if p.suffix.lower() == ".npz":
            self.load_session(str(p))
            return
        self.open_video(str(p))

    def open_video(self, path: str) -> None:
        """Detect the hands in the background (progress in the status bar), then estimate the
        motion with the engine; until it arrives the frames show the detections."""
        from app.video_loader import VideoLoader

        self.statusBar().showMessage(f"Opening {path}…")
        self.video_loader = VideoLoader(path, self)
        self.video_loader.progress.connect(self._on_video_progress)
        self.video_loader.loaded.connect(self._on_video_loaded)
        self.video_loader.failed.connect(self._on_video_failed)
        self.video_loader.start()

    def _on_video_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.statusBar().showMessage(f"{stage}: {done}/{total or '?'} frames")

    def _on_video_loaded(self, data) -> None:
        from app.video_loader import provisional_session

        session = provisional_session(data, self.hand_model)
        self.install_session(session, frames=data.frames, source=None)
        self.session_path = None
        for hand in session.tracks:
            ticket = session.ticket(
                hand, None, "Estimate the motion", from_scratch=True, vision_video=str(data.path)
            )
            self._submit(ticket)
        found = ", ".join(f"{t.handedness} hand in {t.num_detected} frames" for t in data.tracks)
        self.statusBar().showMessage(f"{data.path.name}: {found}; estimating the motion…")

    def _on_video_failed(self, message: str) -> None:
        self.notify_error(f"Could not open the video: {message}; showing the demo")
        if self.session is None:
            self._start_demo()

    def load_session(self, path: str) -> bool:
        from engine.editing.session import Session

        try:
            session = Session.load(path)
        except Exception as exc:
            self.notify_error(f"Could not open the session: {exc}")
            if self.session is None:
                self._start_demo()
            return False
        if session.video == DEMO_VIDEO:
            self.session_path = path
            if self.clip is not None:
                self.install_session(session, frames=self.clip.frames, source=path)
            else:
                self._start_demo(recovered=session)
            return True
        self.install_session(session, frames=None, source=path)
        self.statusBar().showMessage(f"Opened {path}")
        return True

    def install_session(self, session, frames=None, vertices=None, faces=None, source=None) -> None:
        """Show `session`; meshes not given are skinned by the worker."""
        self.worker.cancel_infill()
        self.session = session
        if source is not None:
            self.session_path = source
        self.frames = frames
        self.hand = "right" if "right" in session.tracks else next(iter(session.tracks))
        self.vertices = dict(vertices or {})
        self.faces = dict(faces or {})
        self.lints = {}
        for hand, track in session.tracks.items():
            if hand not in self.vertices:
                self.vertices[hand] = np.zeros((track.num_frames, 0, 3), np.float32)
                self._mesh(hand, track.motion(), (0, track.num_frames))
            self.lints[hand] = (np.zeros(track.num_frames, bool), np.zeros(track.num_frames, bool))
        self._rebuild_undo_stack()
        self.panel.set_hands(sorted(session.tracks), self.hand)
        self.panel.set_settings(session.settings)
        self._track_changed()
        self.play_button.setEnabled(True)
        self.frame = min(self.frame, self.track.num_frames - 1)
        self.show_frame(self.frame)
        if self.session.stale_range(self.hand) and self._top_is_generative():
            self._submit(self.session.ticket(self.hand, self.session.stale_range(self.hand)))

    def _rebuild_undo_stack(self) -> None:
        """Mirror the session's history on the QUndoStack (a loaded session keeps its undo)."""
        s = self.session
        self._quiet = True
        try:
            self.undo_stack.clear()
            cursor = s.cursor
            while s.can_undo:
                s.undo()
            for entry in s.history:
                self.undo_stack.push(SessionCommand(self, entry.label, applied=False))
            while s.cursor > cursor:
                self.undo_stack.undo()
        finally:
            self._quiet = False
        if not s.dirty:
            self.undo_stack.setClean()

    @property
    def track(self):
        return self.session.track(self.hand)

    def set_hand(self, hand: str) -> None:
        if self.session is None or hand not in self.session.tracks:
            return
        self.hand = hand
        self._track_changed()
        self.show_frame(self.frame)

    def _track_changed(self) -> None:
        track = self.track
        self.timeline.set_length(track.num_frames)
        self.timer.setInterval(round(1000 / track.fps))
        if track.image_size is not None:
            w, h = (int(v) for v in track.image_size)
            self.video_view.set_image_size(w, h)
            self.viewport.set_frustum(track.camera_K(), w, h)
        self._refresh_timeline()

    # ----------------------------------------------------------------- edits (GUI thread: numpy only)

    def _edit(self, make, label: str | None = None) -> None:
        """Run an edit on the session, push it on the undo stack, send its request to the worker."""
        if self.session is None:
            return
        from engine.errors import UniHandError

        t0 = time.perf_counter()
        try:
            ticket = make(self.session)
        except UniHandError as exc:
            self.notify_error(str(exc))
            return
        self.undo_stack.push(SessionCommand(self, label or self.session.undo_label or "Edit"))
        if ticket is not None:
            self._submit(ticket, t0)
        self._refresh_timeline()
        self.show_frame(self.frame)

    def _submit(self, ticket, t0: float | None = None) -> int:
        job = self.worker.submit_infill(ticket)
        self._job_session[job] = self.session
        self._job_started[job] = t0 if t0 is not None else time.perf_counter()
        self._latest_job = job
        return job

    def _mesh(self, hand: str, motion, frames: tuple[int, int]) -> None:
        self._job_session[self.worker.submit_mesh(hand, motion, frames)] = self.session

    def drag_keypoint(self, joint: int, u: float, v: float) -> None:
        self.selected_joint = joint
        self._edit(lambda s: s.drag_keypoint(self.hand, self.frame, joint, (u, v)))

    def pin_joint(self, joint: int, xyz) -> None:
        self.selected_joint = joint
        self._edit(lambda s: s.pin_joint(self.hand, self.frame, joint, tuple(np.asarray(xyz, float))))

    def select_joint(self, joint: int) -> None:
        self.selected_joint = joint
        self.show_frame(self.frame)

    def unpin_selected(self) -> None:
        if self.selected_joint is not None:
            self._edit(lambda s: s.unpin_joint(self.hand, self.frame, self.selected_joint))

    def clear_selected_drag(self) -> None:
        if self.selected_joint is not None:
            self._edit(lambda s: s.clear_drag(self.hand, self.frame, self.selected_joint))

    def selected_range(self) -> tuple[int, int]:
        return self.timeline.selected_range() or (self.frame, self.frame + 1)

    def range_edit(self, kind: str) -> None:
        start, stop = self.selected_range()
        ops = {
            "mask": lambda s: s.mask_frames(self.hand, start, stop),
            "unmask": lambda s: s.unmask_frames(self.hand, start, stop),
            "lock": lambda s: s.lock_frames(self.hand, start, stop),
            "unlock": lambda s: s.unlock_frames(self.hand, start, stop),
            "regenerate": lambda s: s.regenerate(self.hand, start, stop),
        }
        self._edit(ops[kind])

    def _settings_changed(self) -> None:
        if self.session is not None:
            self.panel.read_settings(self.session.settings)
            self.session.dirty = True

    # ----------------------------------------------------------------- undo / redo (via SessionCommand)

    def session_undo(self) -> None:
        self._history_moved(self.session.undo())

    def session_redo(self) -> None:
        self._history_moved(self.session.redo())

    def _history_moved(self, entry) -> None:
        if entry is None or self._quiet:
            return
        from engine.editing.session import Session

        self.worker.cancel_infill()
        start, stop = Session.entry_frames(entry)
        for hand in {c.hand for c in entry.changes}:
            self._mesh(hand, self.session.track(hand).motion(), (start, stop))
        if self._top_is_generative():
            stale = self.session.stale_range(self.hand)
            if stale is not None:  # its result never arrived (superseded): compute it now
                self._submit(self.session.ticket(self.hand, stale))
        self._refresh_timeline()
        self.show_frame(self.frame)

    def _top_is_generative(self) -> bool:
        s = self.session
        return s.cursor > 0 and s.history[s.cursor - 1].kind in GENERATIVE

    # ----------------------------------------------------------------- worker results

    def _on_engine_ready(self, name: str) -> None:
        self.engine_name = name
        short = name.split(" (", 1)[0]
        self.engine_label.setText(f"Engine: {short}")
        self.engine_label.setToolTip(name)
        if short != name and not self.statusBar().currentMessage():  # never hide a message shown already
            self.statusBar().showMessage(f"Engine: {name}", 10_000)

    def _on_progress(self, job: int, step: int, total: int) -> None:
        # Quick edits finish before the bar would be read: drawing it would only cost a repaint.
        # Later, at most a few repaints a second: with software GL each one composes the whole
        # window (9-25 ms, scripts/probe_gui_events.py), and back to back they would stall input.
        started = self._job_started.get(job)
        self._progress_total = total
        now = time.perf_counter()
        if (
            job == self._latest_job
            and started is not None
            and now - started > PROGRESS_AFTER_S
            and (now - self._progress_drawn > REDRAW_DURING_JOB_S or step == total)
        ):
            self._progress_drawn = now
            self.progress.setRange(0, total)
            self.progress.setValue(step)

    def _on_preview(self, job: int, joints: np.ndarray) -> None:
        """The motion so far of a long job: (T,21,3) joints, shown as the skeleton of this frame."""
        now = time.perf_counter()
        if (
            job == self._latest_job
            and len(joints) > self.frame
            and now - self._preview_drawn > REDRAW_DURING_JOB_S
        ):
            self._preview_drawn = now
            self.viewport.set_skeleton(joints[self.frame])
            self.previews_shown += 1

    def _on_job_finished(self, res: JobResult) -> None:
        if self._job_session.pop(res.id, None) is not self.session or self.session is None:
            return  # made for a session that has been replaced since
        if res.kind == "infill" and not self.session.apply_result(res.ticket, res.result):
            return  # outdated: the session changed since; a newer request is on its way
        cache = self.vertices[res.hand]
        if cache.shape[1] != res.vertices.shape[1]:
            cache = np.zeros((self.session.track(res.hand).num_frames, res.vertices.shape[1], 3), np.float32)
            self.vertices[res.hand] = cache
        cache[res.start : res.stop] = res.vertices
        self.faces[res.hand] = res.faces
        self.lints[res.hand] = (res.jitter, res.limits)
        # The new mesh first; the timeline, video overlay and status bar follow a moment later, so the
        # repaint the user is waiting for is not held up by the others (software GL composes them all).
        if res.hand == self.hand and res.start <= self.frame < res.stop:
            self.viewport.set_frame(cache[self.frame], self.track.arrays["joints"][self.frame], res.faces)
        self._refresh_later.start()
        started = self._job_started.pop(res.id, None)
        if res.kind == "infill":
            self.last_changed = (res.start, res.stop)
            self._status_later = f"{res.ticket.label}: frames {res.start}-{res.stop - 1} updated"
            if started is not None:
                # The edit's latency ends when the viewport has drawn the new mesh (_mesh_painted).
                self._latency_start = started
                self.viewport.update()

    def _refresh_views(self) -> None:
        """The deferred half of showing a result (see _on_job_finished)."""
        if self.session is None:
            return
        self._refresh_timeline()
        self.show_frame(self.frame)
        if self._status_later is not None:
            self.progress.setRange(0, self._progress_total)
            self.progress.setValue(self._progress_total)
            self.statusBar().showMessage(self._status_later, 5000)
            self._status_later = None

    def _mesh_painted(self) -> None:
        if self._latency_start is None:
            return
        ms = (time.perf_counter() - self._latency_start) * 1000
        self._latency_start = None
        self.latencies_ms.append(ms)
        self.latency_label.setText(f"last edit: {ms:.0f} ms")

    def _on_job_failed(self, job: int, message: str) -> None:
        self._job_started.pop(job, None)
        self._job_session.pop(job, None)
        self.progress.setValue(0)
        self.notify_error(f"The engine failed: {message}")

    def _on_job_cancelled(self, job: int) -> None:
        self._job_started.pop(job, None)
        self._job_session.pop(job, None)

    # ----------------------------------------------------------------- drawing

    def _refresh_timeline(self) -> None:
        if self.session is None:
            return
        jitter, limits = self.lints.get(self.hand, (None, None))
        self.timeline.set_track(self.track.arrays, jitter, limits)

    def show_frame(self, frame: int) -> None:
        if self.session is None:
            return
        track = self.track
        frame = int(np.clip(frame, 0, track.num_frames - 1))
        self.frame = frame
        a = track.arrays
        joints = a["joints"][frame]
        cache = self.vertices.get(self.hand)
        has_mesh = cache is not None and cache.shape[1] > 0 and self.hand in self.faces
        if has_mesh:
            self.viewport.set_frame(cache[frame], joints, self.faces[self.hand])
        else:
            self.viewport.set_skeleton(joints)
        pins = a["pin3d"][frame][a["pin3d_mask"][frame]]
        sel = joints[self.selected_joint] if self.selected_joint is not None else None
        self.viewport.set_markers(pins, sel)
        if self.panel.onion.isChecked():
            near = [
                a["joints"][f]
                for f in (frame - ONION_OFFSET, frame + ONION_OFFSET)
                if 0 <= f < track.num_frames
            ]
            self.viewport.set_onion(near)
        else:
            self.viewport.set_onion([])
        self._draw_video(frame, has_mesh)
        self.timeline.set_frame(frame)
        self.frame_label.setText(f"frame {frame + 1}/{track.num_frames}")
        joint = "none (click a keypoint)" if self.selected_joint is None else str(self.selected_joint)
        self.panel.joint_label.setText(f"joint: {joint}")

    def _draw_video(self, frame: int, has_mesh: bool) -> None:
        track = self.track
        image = self.frames[frame] if self.frames is not None and frame < len(self.frames) else None
        self.video_view.set_frame_image(image)
        K = track.camera_K()
        if K is None:
            self.video_view.set_overlay(None, None, None, None, None, None, "no video: 3D conditions only")
            return
        a = track.arrays

        def project(p: np.ndarray) -> np.ndarray:
            uvw = p @ K.T
            return uvw[..., :2] / np.maximum(uvw[..., 2:3], 1e-6)

        motion_uv = project(a["joints"][frame])
        mesh_uv = project(self.vertices[self.hand][frame]) if has_mesh else None
        dragged = a["drag2d_mask"][frame]
        observed = a["kp2d_obs_mask"][frame] & ~a["masked"][frame]
        handles = np.where(
            dragged[:, None], a["drag2d"][frame], np.where(observed[:, None], a["kp2d_obs"][frame], motion_uv)
        )
        state = np.where(dragged, 1, np.where(observed, 0, 2))
        self.video_view.selected_joint = self.selected_joint
        notes = []
        if a["masked"][frame]:
            notes.append("masked")
        if a["locked"][frame]:
            notes.append("locked")
        if a["stale"][frame]:
            notes.append("needs regenerate")
        self.video_view.set_overlay(
            motion_uv,
            mesh_uv,
            self.faces.get(self.hand),
            handles,
            a["kp2d_conf"][frame],
            state,
            "  ".join(notes),
        )

    # ----------------------------------------------------------------- playback

    def set_playing(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.timer.start()
        else:
            self.timer.stop()

    def step(self, delta: int = 1) -> None:
        if self.session is not None:
            n = self.track.num_frames
            self.show_frame((self.frame + delta) % n)

    # ----------------------------------------------------------------- files

    def save(self) -> None:
        if self.session_path and self.session_path.endswith(".npz"):
            self.save_session(self.session_path)
        else:
            self.save_as_dialog()

    def save_session(self, path: str) -> bool:
        try:
            self.session.save(path)
        except Exception as exc:
            self.notify_error(f"Could not save {path}: {exc}")
            return False
        self.session_path = str(path)
        self.undo_stack.setClean()
        self.autosaver.clear()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def _file_dialog(self, title: str, accept_save: bool, slot) -> QFileDialog:
        # Opened with open(), never exec(): nothing here runs a nested event loop.
        dialog = QFileDialog(
            self, title, str(Path(self.session_path or ".").parent), "UniHand sessions (*.npz)"
        )
        dialog.setAcceptMode(
            QFileDialog.AcceptMode.AcceptSave if accept_save else QFileDialog.AcceptMode.AcceptOpen
        )
        dialog.setDefaultSuffix("npz")
        dialog.fileSelected.connect(slot)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def save_as_dialog(self) -> None:
        if self.session is not None:
            self._file_dialog("Save session", True, self.save_session)

    def open_dialog(self) -> None:
        self._file_dialog("Open session", False, self.load_session)

    def export_dialog(self) -> None:
        from app.export_dialog import ExportDialog

        if self.session is None:
            return
        hands = [self.hand] + [h for h in self.session.tracks if h != self.hand]
        default_dir = str(Path(self.session_path).parent) if self.session_path else "."
        self.export = ExportDialog([self.session.track(h).motion() for h in hands], self, default_dir)
        self.export.open()

    def autosave(self, wait: bool = False) -> bool:
        """Write the recovery file if there are unsaved changes: in the background on the timer,
        synchronously with `wait` (on close). False if nothing was written or queued."""
        if self.session is None or not self.session.dirty:
            return False
        if not wait:
            return self.autosaver.save_later(self.session, self.session_path)
        try:
            self.autosaver.save_now(self.session, self.session_path)
        except Exception as exc:
            self.notify_error(f"Autosave failed: {exc}")
            return False
        return True

    def _autosave_failed(self, message: str) -> None:
        self.notify_error(f"Autosave failed: {message}")

    # ----------------------------------------------------------------- messages, shutdown

    def notify_error(self, message: str) -> None:
        """Tell the user without blocking: status bar plus a non-modal message box."""
        self.messages.append(message)
        self.statusBar().showMessage(message, 15_000)
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(
            QMessageBox.Icon.Warning, "UniHand Studio", message, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.destroyed.connect(lambda *_: setattr(self, "error_box", None) if self.error_box is box else None)
        self.error_box = box
        box.show()

    def closeEvent(self, event) -> None:
        self.timer.stop()
        self.autosave_timer.stop()
        self.worker.stop()
        if self.loader is not None:
            self.loader.wait(15_000)
        if self.session is not None and self.session.dirty:
            self.autosave(wait=True)  # unsaved edits survive the exit; the next start offers them back
        else:
            self.autosaver.clear()
        self.autosaver.shutdown()
        super().closeEvent(event)


def run_app(path: str | None = None) -> int:
    """Open the main window (the demo when no path is given)."""
    if QApplication.instance() is None:
        share_gl_contexts()
    app = QApplication.instance() or QApplication(sys.argv)
    window = MainWindow(path)
    window.show()
    return app.exec()
