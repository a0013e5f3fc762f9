"""Opening a video: hand detection and tracking (engine.video) and frame decoding for display,
in a background thread with progress. The motion itself is estimated by the engine worker once
the session exists (a whole-clip infill per hand)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QThread, Signal

DISPLAY_WIDTH = 480  # frames are kept in memory at about this width
MAX_FRAME_BYTES = 400 * 2**20


@dataclass
class VideoData:
    path: Path
    tracks: list  # engine.video.conditions.VideoTrack, one per hand
    frames: np.ndarray  # (T,h,w,3) uint8, downscaled for display


def provisional_session(data: VideoData, hand_model: str = "default"):
    """A session on the detected conditions whose motion is a placeholder (the keypoints lifted
    to half a metre) until the engine's estimate arrives; every frame is flagged stale."""
    from engine.editing.session import Session, Track
    from engine.motion.types import HandMotion

    tracks = {}
    for vt in data.tracks:
        cond = vt.conditions
        if cond.handedness in tracks:
            continue
        t = cond.num_frames
        camera = cond.camera()
        centre = camera.unproject(np.array(camera.image_size, float) / 2, 0.5)
        lifted = camera.unproject(np.nan_to_num(cond.kp2d), np.full((t, 21), 0.5))
        joints = np.where(cond.kp2d_mask[..., None], lifted, centre)
        zeros3 = np.zeros((t, 3))
        motion = HandMotion(
            fps=cond.fps,
            handedness=cond.handedness,
            hand_model=hand_model,
            global_orient=zeros3,
            hand_pose=np.zeros((t, 45)),
            transl=zeros3 + centre,
            betas=np.zeros(10),
            joints=joints,
        )
        track = Track.from_motion(motion, cond, confidence=vt.joint_confidence)
        track.arrays["stale"][:] = True
        tracks[cond.handedness] = track
    return Session(tracks, video=str(data.path))


class VideoLoader(QThread):
    """Emits `progress(stage, done, total)`, then `loaded(VideoData)` or `failed(str)`."""

    progress = Signal(str, int, int)
    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, path: str, parent: object = None) -> None:
        super().__init__(parent)
        self.path = Path(path)

    def run(self) -> None:
        try:
            from engine.video import detect_conditions, iter_frames

            def detected(done: int, total: int | None) -> None:
                self.progress.emit("detecting hands", done, total or 0)

            tracks = detect_conditions(self.path, hand="auto", progress=detected)
            if not tracks or all(t.num_detected == 0 for t in tracks):
                raise ValueError(f"{self.path}: no hand was detected in the video")
            info = tracks[0].video
            step = max(1, int(np.ceil(info.width / DISPLAY_WIDTH)))
            while info.num_frames * (info.height // step) * (info.width // step) * 3 > MAX_FRAME_BYTES:
                step += 1
            frames = []
            for frame in iter_frames(self.path):
                frames.append(np.ascontiguousarray(frame.image[::step, ::step]))
                if frame.index % 20 == 0:
                    self.progress.emit("decoding frames", frame.index, info.num_frames)
            self.loaded.emit(VideoData(self.path, tracks, np.stack(frames)))
        except Exception as exc:  # reported to the user, never a dead window
            self.failed.emit(f"{type(exc).__name__}: {exc}")
