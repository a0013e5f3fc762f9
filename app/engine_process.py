"""The engine's own process: it loads the infiller once, keeps it warm, and serves requests.

Why a process and not just a thread: the GUI thread and an engine thread share one Python GIL,
and PySide releases the GIL around every Qt call, so each call a slot makes waits for the busy
engine thread to hand it back (the "convoy" effect): measured here, the GUI thread stalled for
200-400 ms per edit. In its own process the engine cannot stall the event loop. The Qt side
(app/worker.py) talks to it over a pipe; this module imports no Qt.

Messages parent -> child: ("infill", id, InfillRequest, hand slot), ("mesh", id, HandMotion, (start, stop)),
("stop",). Child -> parent: ("ready", engine name), ("progress", id, step, total, preview joints or
None), ("done", id, kind, result-or-None, start, stop, vertices, faces, jitter, limits, seconds),
("cancelled", id), ("failed", id, message). `latest` (shared integers, one per hand slot: 0 right,
1 left) holds the id of the newest infill the parent wants; a running infill whose id differs
stops at its next step.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
import traceback
from typing import Any

import numpy as np

DEFAULT_FACTORY = "app.engine_process:default_infiller"


def default_infiller() -> tuple[Any, str]:
    """The trained diffusion infiller when available, else the interpolation baseline; and a
    description for the status bar."""
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


def resolve_factory(spec: str):
    """ "module:function" -> the function (specs, not callables, cross the process boundary)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def with_vision(infiller: Any, request: Any) -> tuple[Any, Any, str | None]:
    """(infiller, request, note) for a request that names its video (`vision_video`): the vision
    model and the request with the video's hand tokens, as `main.py estimate` uses them, when the
    engine is the diffusion model and the vision checkpoint is installed. Otherwise, or if the
    frames cannot be read, the request as it is (keypoints only) and a note saying why."""
    import dataclasses

    video = getattr(request, "vision_video", None)
    if not video or request.vision is not None:
        return infiller, request, None
    try:
        from engine.editing.infill import DiffusionInfiller, default_vision_checkpoint, load_infiller
        from engine.video.vision import video_hand_tokens

        if not isinstance(infiller, DiffusionInfiller) or not default_vision_checkpoint().is_file():
            return infiller, request, "no vision model: estimated from the keypoints"
        vision = load_infiller(device=str(infiller.device), vision=True)
        tokens = video_hand_tokens(vision.perceptron, video, request.conditions, vision.device)
        return vision, dataclasses.replace(request, vision=tokens, vision_video=None), None
    except Exception as exc:  # the keypoints alone still give an estimate
        return infiller, request, f"vision tokens unavailable ({type(exc).__name__}: {exc}); keypoints only"


class _Engine:
    def __init__(self, conn, latest, factory_spec: str) -> None:
        self.conn, self.latest = conn, latest
        self.models: dict[tuple[str, str], Any] = {}
        self.infiller, self.name = resolve_factory(factory_spec)()

    def skin(self, motion, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from engine.hand import create_hand_model

        key = (motion.hand_model, motion.handedness)
        if key not in self.models:
            self.models[key] = create_hand_model(motion.hand_model, motion.handedness)
        model = self.models[key]
        faces = np.asarray(model.faces)
        if stop <= start:
            return np.zeros((0, int(model.v_template.shape[0]), 3), np.float32), faces
        with torch.inference_mode():
            out = model(
                motion.hand_pose[start:stop],
                motion.global_orient[start:stop],
                motion.betas,
                motion.transl[start:stop],
            )
        return out.vertices.numpy().astype(np.float32), faces

    @staticmethod
    def lints(motion) -> tuple[np.ndarray, np.ndarray]:
        from engine.editing.session import jitter_frames, joint_limit_frames

        jitter = jitter_frames(motion.joints, motion.fps)
        try:
            limits = joint_limit_frames(motion.hand_pose, motion.handedness, motion.hand_model)
        except Exception:  # a model without anatomical frames: no limit lint rather than no result
            limits = np.zeros(motion.num_frames, dtype=bool)
        return jitter, limits

    def run_job(self, message: tuple) -> None:
        from engine.editing.request import InfillCancelled

        kind, job_id = message[0], message[1]
        t0 = time.perf_counter()
        try:
            if kind == "infill":
                request, slot = message[2], message[3]

                def should_cancel() -> bool:
                    return self.latest[slot] != job_id

                def progress(step: int, total: int, preview: Any) -> None:
                    joints = None if preview is None else np.asarray(preview.joints, np.float32)
                    self.conn.send(("progress", job_id, step, total, joints))

                infiller, request, note = with_vision(self.infiller, request)
                if note:
                    print(f"unihand engine: {note}", flush=True)
                result = infiller(request, progress, should_cancel)
                if should_cancel():
                    raise InfillCancelled("superseded after the last step")
                motion, (start, stop) = result.motion, result.changed
            else:
                result, motion, (start, stop) = None, message[2], message[3]
            vertices, faces = self.skin(motion, start, stop)
            jitter, limits = self.lints(motion)
            seconds = time.perf_counter() - t0
            self.conn.send(
                ("done", job_id, kind, result, start, stop, vertices, faces, jitter, limits, seconds)
            )
        except InfillCancelled:
            self.conn.send(("cancelled", job_id))
        except Exception as exc:
            traceback.print_exc()
            self.conn.send(("failed", job_id, f"{type(exc).__name__}: {exc}"))


def serve(conn, latest, factory_spec: str = DEFAULT_FACTORY) -> None:
    """The child process's main loop (multiprocessing target)."""
    import torch

    # Leave a core to the GUI on small machines, and let the GUI win when both want the CPU:
    # inference is background work, a stalled event loop is what a user feels.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(10)
    try:
        engine = _Engine(conn, latest, factory_spec)
    except Exception as exc:
        traceback.print_exc()
        conn.send(("ready", f"no engine ({type(exc).__name__}: {exc})"))
        return
    conn.send(("ready", engine.name))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the app is gone
        if message[0] == "stop":
            return
        engine.run_job(message)
