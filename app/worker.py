"""The one background worker that owns the engine (torch never runs on the GUI thread).

`EngineWorker` is a QThread with two queues:
- infill jobs, coalesced: only the newest submitted request runs; a newer submission makes the
  running one stop at its next denoising step (`should_cancel`) and replaces any not yet started;
- mesh jobs (vertices and lints for frames whose motion changed by undo/redo or loading), run in
  order before the next infill job.
Results, progress, previews and errors come back as queued Qt signals. Any `Infiller` works:
the worker loads `engine.editing.infill.load_infiller()` when that exists and succeeds, else the
interpolation baseline, and says which in `engineReady`.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

InfillerFactory = Callable[[], tuple[Any, str]]


def default_infiller() -> tuple[Any, str]:
    """The trained diffusion infiller when available, else the interpolation baseline; and a
    description for the status bar. Runs in the worker thread (it imports torch)."""
    import torch

    from engine.editing.baseline import InterpolationInfiller

    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        from engine.editing.infill import load_infiller
    except ImportError:
        return InterpolationInfiller(), "interpolation baseline (no diffusion engine in this build)"
    try:
        return load_infiller(device=device), f"diffusion model on {device}"
    except Exception as exc:  # no checkpoint, incompatible file: fall back, and say why
        return InterpolationInfiller(), f"interpolation baseline (diffusion model unavailable: {exc})"


@dataclass
class Job:
    id: int
    kind: str  # "infill" | "mesh"
    hand: str
    ticket: Any = None  # EditTicket for infill jobs
    motion: Any = None  # HandMotion for mesh jobs
    frames: tuple[int, int] = (0, 0)
    submitted: float = field(default_factory=time.perf_counter)


@dataclass
class JobResult:
    id: int
    kind: str
    hand: str
    ticket: Any
    result: Any  # InfillResult for infill jobs
    start: int
    stop: int
    vertices: np.ndarray  # (stop-start, V, 3) float32, camera space
    faces: np.ndarray
    jitter: np.ndarray  # (T,) bool lint flags of the whole motion
    limits: np.ndarray  # (T,) bool
    seconds: float  # inference + mesh time in the worker


class EngineWorker(QThread):
    engineReady = Signal(str)
    progressed = Signal(int, int, int)  # job id, step, total
    previewed = Signal(int, object)  # job id, preview HandMotion
    jobFinished = Signal(object)  # JobResult
    jobFailed = Signal(int, str)
    jobCancelled = Signal(int)

    def __init__(self, infiller_factory: InfillerFactory | None = None, parent: object = None) -> None:
        super().__init__(parent)
        self._factory = infiller_factory or default_infiller
        self._cond = threading.Condition()
        self._pending: Job | None = None
        self._meshes: deque[Job] = deque()
        self._latest_infill = 0
        self._next_id = 1
        self._stopping = False
        self._models: dict[tuple[str, str], Any] = {}
        self.infiller: Any = None
        self.engine_name = ""
        # Counters the tests and the status bar read.
        self.infills_started = 0
        self.infills_finished = 0
        self.infills_cancelled = 0
        self.infills_skipped = 0

    # ----------------------------------------------------------------- GUI thread API

    def submit_infill(self, ticket: Any) -> int:
        """Queue `ticket`'s request, superseding any queued or running infill. Returns the job id."""
        with self._cond:
            job = Job(self._take_id(), "infill", ticket.hand, ticket=ticket)
            if self._pending is not None:
                self.infills_skipped += 1
            self._pending = job
            self._latest_infill = job.id
            self._cond.notify()
        return job.id

    def submit_mesh(self, hand: str, motion: Any, frames: tuple[int, int]) -> int:
        """Queue skinning of `motion` frames [start, stop) (after undo/redo or loading)."""
        with self._cond:
            job = Job(self._take_id(), "mesh", hand, motion=motion, frames=frames)
            self._meshes.append(job)
            self._cond.notify()
        return job.id

    def cancel_infill(self) -> None:
        """Stop the running infill at its next step and drop a queued one."""
        with self._cond:
            if self._pending is not None:
                self.infills_skipped += 1
            self._pending = None
            self._latest_infill = -1

    def busy(self) -> bool:
        with self._cond:
            return self._pending is not None or bool(self._meshes) or self._running

    def stop(self, timeout_ms: int = 10_000) -> None:
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify()
        self.wait(timeout_ms)

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ----------------------------------------------------------------- worker thread

    _running = False

    def run(self) -> None:
        import torch

        # Leave a core to the GUI thread on small machines.
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
        try:
            self.infiller, self.engine_name = self._factory()
        except Exception as exc:
            self.engine_name = f"no engine ({type(exc).__name__}: {exc})"
            self.engineReady.emit(self.engine_name)
            return
        self.engineReady.emit(self.engine_name)
        while True:
            with self._cond:
                while not self._stopping and self._pending is None and not self._meshes:
                    self._cond.wait()
                if self._stopping:
                    return
                if self._meshes:
                    job = self._meshes.popleft()
                else:
                    job, self._pending = self._pending, None
                self._running = True
            try:
                self._process(job)
            except Exception as exc:
                from engine.editing.request import InfillCancelled

                if isinstance(exc, InfillCancelled):
                    self.infills_cancelled += 1
                    self.jobCancelled.emit(job.id)
                else:
                    traceback.print_exc()
                    self.jobFailed.emit(job.id, f"{type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    self._running = False

    def _process(self, job: Job) -> None:
        t0 = time.perf_counter()
        if job.kind == "infill":
            self.infills_started += 1
            request = job.ticket.request

            def should_cancel() -> bool:
                return self._stopping or self._latest_infill != job.id

            def progress(step: int, total: int, preview: Any) -> None:
                self.progressed.emit(job.id, step, total)
                if preview is not None:
                    self.previewed.emit(job.id, preview)

            result = self.infiller(request, progress, should_cancel)
            if should_cancel():
                from engine.editing.request import InfillCancelled

                raise InfillCancelled("superseded after the last step")
            motion, (start, stop) = result.motion, result.changed
            self.infills_finished += 1
        else:
            result, motion, (start, stop) = None, job.motion, job.frames
        vertices, faces = self._skin(motion, start, stop)
        jitter, limits = self._lints(motion)
        self.jobFinished.emit(
            JobResult(
                job.id,
                job.kind,
                job.hand,
                job.ticket,
                result,
                start,
                stop,
                vertices,
                faces,
                jitter,
                limits,
                time.perf_counter() - t0,
            )
        )

    def _skin(self, motion: Any, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from engine.hand import create_hand_model

        key = (motion.hand_model, motion.handedness)
        if key not in self._models:
            self._models[key] = create_hand_model(motion.hand_model, motion.handedness)
        model = self._models[key]
        if stop <= start:
            return np.zeros((0, model.faces.shape[0], 3), np.float32), np.asarray(model.faces)
        with torch.inference_mode():
            out = model(
                motion.hand_pose[start:stop],
                motion.global_orient[start:stop],
                motion.betas,
                motion.transl[start:stop],
            )
        return out.vertices.numpy().astype(np.float32), np.asarray(model.faces)

    @staticmethod
    def _lints(motion: Any) -> tuple[np.ndarray, np.ndarray]:
        from engine.editing.session import jitter_frames, joint_limit_frames

        jitter = jitter_frames(motion.joints, motion.fps)
        try:
            limits = joint_limit_frames(motion.hand_pose, motion.handedness, motion.hand_model)
        except Exception:  # a model without anatomical frames: no limit lint rather than no result
            limits = np.zeros(motion.num_frames, dtype=bool)
        return jitter, limits
