"""Builds the built-in demo off the GUI thread (torch never runs on the GUI thread)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QThread, Signal


class DemoClip:
    """The demo's per-frame mesh and keypoints, in OpenCV camera space (metres)."""

    def __init__(self, vertices: np.ndarray, keypoints: np.ndarray, faces: np.ndarray, fps: float) -> None:
        self.vertices = vertices  # (T,V,3)
        self.keypoints = keypoints  # (T,21,3)
        self.faces = faces  # (F,3)
        self.fps = fps

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])


def build_demo_clip(hand_model: str = "default", num_frames: int = 180, fps: float = 30.0) -> DemoClip:
    """Run the engine's forward kinematics on the demo performance (call from a worker thread)."""
    import torch

    from engine.hand import create_hand_model
    from engine.hand.demo import demo_pose_track

    model = create_hand_model(hand_model)
    pose, orient, transl = demo_pose_track(model.data, num_frames)
    with torch.inference_mode():
        out = model(pose, orient, None, transl)
    return DemoClip(out.vertices.numpy(), out.keypoints.numpy(), model.faces, fps)


class DemoLoader(QThread):
    """Computes the demo clip in the background; emits `loaded(DemoClip)` or `failed(str)`."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, hand_model: str = "default", parent: object = None) -> None:
        super().__init__(parent)
        self.hand_model = hand_model

    def run(self) -> None:
        try:
            self.loaded.emit(build_demo_clip(self.hand_model))
        except Exception as exc:  # reported to the user, never a dead window
            self.failed.emit(f"{type(exc).__name__}: {exc}")
