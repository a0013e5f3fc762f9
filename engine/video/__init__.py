"""Video front end: decoding (PyAV), 2D hand keypoints (MediaPipe), hand tracking -> conditions,
and the frozen vision backbone (dense tokens of full frames).

Names resolve lazily so that importing `engine.video` loads none of PyAV, mediapipe or torch.
See docs/video.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VideoError": "engine.video.decode",
    "VideoFrame": "engine.video.decode",
    "VideoInfo": "engine.video.decode",
    "VideoReader": "engine.video.decode",
    "probe": "engine.video.decode",
    "iter_frames": "engine.video.decode",
    "write_video": "engine.video.encode",
    "HandDetector": "engine.video.detect",
    "HandDetectorError": "engine.video.detect",
    "HandDetection": "engine.video.detect",
    "FrameDetections": "engine.video.detect",
    "detect_video": "engine.video.detect",
    "HandTrack": "engine.video.track",
    "track_hands": "engine.video.track",
    "VideoTrack": "engine.video.conditions",
    "detect_conditions": "engine.video.conditions",
    "intrinsics": "engine.video.conditions",
    "VisionBackbone": "engine.model.backbone",
    "BackboneError": "engine.model.backbone",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine.video' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
