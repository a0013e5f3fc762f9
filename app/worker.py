"""The one background worker that owns the engine (torch never runs on the GUI thread).

`EngineWorker` is a QThread that starts the engine process (app/engine_process.py: the infiller,
loaded once and kept warm, in its own process so it cannot stall the GUI through the GIL) and
feeds it jobs from two queues:
- infill jobs, coalesced: only the newest submitted request runs; a newer submission makes the
  running one stop at its next denoising step and replaces any not yet started;
- mesh jobs (vertices and lints for frames whose motion changed by undo/redo or loading), run in
  order before the next infill job.
Results, progress, previews and errors come back as queued Qt signals. The engine is whatever
the factory gives: by default `engine.editing.infill.load_infiller()` when that exists and
succeeds, else the interpolation baseline; `engineReady` says which.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from app.engine_process import DEFAULT_FACTORY, serve

POLL_S = 0.005
MAX_RESTARTS = 3


def _slot(hand: str) -> int:
    return 0 if hand == "right" else 1


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
    seconds: float  # inference + skinning time in the engine


class EngineWorker(QThread):
    engineReady = Signal(str)
    progressed = Signal(int, int, int)  # job id, step, total
    previewed = Signal(int, object)  # job id, preview joints (T,21,3)
    jobFinished = Signal(object)  # JobResult
    jobFailed = Signal(int, str)
    jobCancelled = Signal(int)

    def __init__(self, factory: str = DEFAULT_FACTORY, parent: object = None) -> None:
        """`factory`: "module:function" returning (infiller, description), run in the engine process."""
        super().__init__(parent)
        self.factory = factory
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that runs Qt
        # Per hand (0 right, 1 left): the newest infill wanted; a running one with another id stops.
        self._latest = self._ctx.Array("q", 2, lock=False)
        self._cond = threading.Condition()
        self._pending: dict[str, Job] = {}  # per hand: edits of one hand never cancel the other's
        self._meshes: deque[Job] = deque()
        self._running: Job | None = None
        self._next_id = 1
        self._stopping = False
        self.process: Any = None
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
            if ticket.hand in self._pending:
                self.infills_skipped += 1
            self._pending[ticket.hand] = job
            self._latest[_slot(ticket.hand)] = job.id  # a running infill stops at its next step
        return job.id

    def submit_mesh(self, hand: str, motion: Any, frames: tuple[int, int]) -> int:
        """Queue skinning of `motion` frames [start, stop) (after undo/redo or loading)."""
        with self._cond:
            job = Job(self._take_id(), "mesh", hand, motion=motion, frames=frames)
            self._meshes.append(job)
        return job.id

    def cancel_infill(self) -> None:
        """Stop the running infill at its next step and drop a queued one."""
        with self._cond:
            self.infills_skipped += len(self._pending)
            self._pending.clear()
            self._latest[0] = self._latest[1] = -1

    def reset_counters(self) -> None:
        self.infills_started = self.infills_finished = self.infills_cancelled = self.infills_skipped = 0

    def busy(self) -> bool:
        with self._cond:
            return bool(self._pending) or bool(self._meshes) or self._running is not None

    def stop(self, timeout_ms: int = 10_000) -> None:
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._latest[0] = self._latest[1] = -1
        self.wait(timeout_ms)

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ----------------------------------------------------------------- worker thread

    def run(self) -> None:
        restarts = 0
        while True:
            died = self._serve_one_process()
            if not died or self._stopping or restarts >= MAX_RESTARTS:
                return
            restarts += 1  # the engine crashed (out of memory, a native fault): start a fresh one

    def _serve_one_process(self) -> bool:
        """Run one engine process until stopped; True if it died under us."""
        parent_conn, child_conn = self._ctx.Pipe()
        self.process = self._ctx.Process(
            target=serve, args=(child_conn, self._latest, self.factory), name="unihand-engine", daemon=True
        )
        self.process.start()
        child_conn.close()
        try:
            return self._loop(parent_conn)
        finally:
            with contextlib.suppress(OSError):
                parent_conn.send(("stop",))
            self.process.join(1)  # it holds no state worth a slow shutdown: the session is ours
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(2)
            parent_conn.close()

    def _loop(self, conn) -> bool:
        ready = False
        while True:
            with self._cond:
                if self._stopping:
                    return False
                if ready and self._running is None:
                    if self._meshes:
                        self._running = self._meshes.popleft()
                    elif self._pending:
                        hand = "right" if "right" in self._pending else next(iter(self._pending))
                        self._running = self._pending.pop(hand)
                    job = self._running
                else:
                    job = None
            if job is not None:
                if job.kind == "infill":
                    self.infills_started += 1
                    conn.send(("infill", job.id, job.ticket.request, _slot(job.hand)))
                else:
                    conn.send(("mesh", job.id, job.motion, job.frames))
            try:
                if not conn.poll(POLL_S):
                    if not self.process.is_alive():
                        raise EOFError
                    continue
                message = conn.recv()
            except (EOFError, OSError):
                if self._stopping:
                    return False
                self._engine_died()
                return True
            if message[0] == "ready":
                ready = True
                self.engine_name = message[1]
                self.engineReady.emit(message[1])
                if message[1].startswith("no engine"):
                    return False
            else:
                self._handle(message)

    def _handle(self, message: tuple) -> None:
        kind, job_id = message[0], message[1]
        if kind == "progress":
            self.progressed.emit(job_id, message[2], message[3])
            if message[4] is not None:
                self.previewed.emit(job_id, message[4])
            return
        with self._cond:
            job, self._running = self._running, None
        if kind == "done":
            _, _, job_kind, result, start, stop, vertices, faces, jitter, limits, seconds = message
            if job_kind == "infill":
                self.infills_finished += 1
            res = JobResult(
                job_id,
                job_kind,
                job.hand,
                job.ticket,
                result,
                start,
                stop,
                vertices,
                faces,
                jitter,
                limits,
                seconds,
            )
            self.jobFinished.emit(res)
        elif kind == "cancelled":
            self.infills_cancelled += 1
            self.jobCancelled.emit(job_id)
        else:
            self.jobFailed.emit(job_id, message[2])

    def _engine_died(self) -> None:
        with self._cond:
            job, self._running = self._running, None
        code = self.process.exitcode if self.process is not None else None
        if job is not None:
            self.jobFailed.emit(job.id, f"the engine process stopped (exit code {code}); restarting it")
        self.engine_name = f"restarting (the engine process stopped with exit code {code})"
        self.engineReady.emit(self.engine_name)
