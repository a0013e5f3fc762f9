"""Video -> keypoint conditions: the call `main.py estimate` builds on (docs/video.md).

`detect_conditions(video)` decodes the video (streaming), detects hands in every frame, tracks
them and returns one `VideoTrack` per hand, each holding an `engine.motion.types.Conditions`
with the kp2d channel: keypoints in pixels of the upright picture, per-joint masks, the image
size and the camera intrinsics (from metadata when the file states a focal length, else the
project default: focal = max(W, H), principal point at the centre).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.motion.camera import Camera
from engine.motion.types import Conditions
from engine.video.decode import VideoInfo, VideoReader
from engine.video.detect import FrameDetections, ProgressFn, detect_video
from engine.video.track import HandTrack, track_hands

# Diagonal of a 36 x 24 mm frame: "35 mm equivalent" focal lengths are relative to it.
_FULL_FRAME_DIAGONAL_MM = float(np.hypot(36.0, 24.0))
_FOCAL_35MM_KEY = re.compile(r"focal.?length.*35|35.*focal", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class VideoTrack:
    """One hand through a video: its conditions plus what the conditions file format has no room for."""

    conditions: Conditions  # fps, num_frames, handedness, kp2d, kp2d_mask, image_size, K
    times: np.ndarray  # (T,) seconds, each frame's presentation time (exact, VFR included)
    confidence: np.ndarray  # (T,) the hand's detection score per frame, 0 where not detected
    joint_confidence: np.ndarray  # (T, 21)
    detected: np.ndarray  # (T,) bool: the hand was found in the frame
    video: VideoInfo

    @property
    def handedness(self) -> str:
        return self.conditions.handedness

    @property
    def num_detected(self) -> int:
        return int(self.detected.sum())


def intrinsics(info: VideoInfo) -> tuple[np.ndarray, str]:
    """K for the upright picture, and where it came from ("metadata" or "default").

    A "35 mm equivalent focal length" tag (some phones write one) gives f in pixels as
    f35 * diagonal_px / 43.27 mm; otherwise the project default (DESIGN.md section 2).
    """
    w, h = info.width, info.height
    for key, value in info.metadata.items():
        if not _FOCAL_35MM_KEY.search(key):
            continue
        match = re.search(r"\d+(\.\d+)?", value)
        f35 = float(match.group()) if match else 0.0
        if 1.0 <= f35 <= 2000.0:
            focal = f35 * float(np.hypot(w, h)) / _FULL_FRAME_DIAGONAL_MM
            k = np.array([[focal, 0.0, w / 2.0], [0.0, focal, h / 2.0], [0.0, 0.0, 1.0]])
            return k, "metadata"
    return Camera.default(w, h).K, "default"


def tracks_to_conditions(tracks: list[HandTrack], info: VideoInfo) -> list[VideoTrack]:
    """Wrap `HandTrack`s of a video as `VideoTrack`s with validated `Conditions`."""
    k, _ = intrinsics(info)
    out = []
    for track in tracks:
        conditions = Conditions(
            fps=info.fps,
            num_frames=track.num_frames,
            handedness=track.handedness,
            kp2d=track.keypoints,
            kp2d_mask=track.mask,
            image_size=np.array([info.width, info.height]),
            K=k,
        )
        out.append(
            VideoTrack(
                conditions=conditions,
                times=info.times.copy(),
                confidence=track.confidence,
                joint_confidence=track.joint_confidence,
                detected=track.detected,
                video=info,
            )
        )
    return out


def detect_conditions(
    video_path: str | Path,
    hand: str = "auto",
    progress: ProgressFn | None = None,
    *,
    min_joint_confidence: float = 0.5,
) -> list[VideoTrack]:
    """Detect and track hands in a video; one `VideoTrack` per hand (see `track_hands` for `hand`).

    `progress(done, total)` is called after each decoded frame. Memory stays bounded: frames
    are decoded, detected and dropped one at a time; only the keypoints are kept. Raises
    `VideoError` for unreadable videos and `HandDetectorError` if the detector cannot load;
    a video without hands is not an error (its track is all masked).
    """
    with VideoReader(video_path) as reader:
        info = reader.info
        frames: list[FrameDetections] = list(detect_video(reader, progress=progress))
    tracks = track_hands(frames, hand=hand, min_joint_confidence=min_joint_confidence)
    return tracks_to_conditions(tracks, info)
