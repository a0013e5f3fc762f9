"""The immutable request/result pair that crosses from an editor (CLI or GUI) to the infilling engine.

A worker thread takes an `InfillRequest`, runs an `Infiller` on it and hands back an `InfillResult`;
neither side shares mutable state with the other. The engine that implements `Infiller` is
`engine.editing.infill.DiffusionInfiller`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engine.errors import UniHandError
from engine.motion.types import Conditions, HandMotion

MODALITIES: tuple[str, ...] = ("kp2d", "kp3d", "mano")  # structured conditions (editor sliders)
GUIDED: tuple[str, ...] = (*MODALITIES, "vision")  # what `guidance` may scale (vision: 1.0 if unset)
DEFAULT_GUIDANCE: dict[str, float] = {"kp2d": 2.0, "kp3d": 2.0, "mano": 1.0}

# progress(step, total, preview): called once per denoising step; preview is the motion decoded
# from the current clean-latent estimate, or None where making one would cost too much.
ProgressFn = Callable[[int, int, "HandMotion | None"], None]
CancelFn = Callable[[], bool]


class InfillCancelled(UniHandError):
    """A newer request superseded this one; it stopped between denoising steps."""


@dataclass(frozen=True)
class InfillRequest:
    """What to (re)generate: conditions for the whole clip, and which frames may change.

    `previous` is the motion shown now; with `frames = (start, stop)` only that range (widened by
    the engine's margin) is recomputed and every other frame of `previous` is returned unchanged.
    With `frames = None` or no `previous` the whole clip is generated.
    """

    conditions: Conditions
    previous: HandMotion | None = None
    frames: tuple[int, int] | None = None
    samples: int = 1
    seed: int = 0
    steps: int = 10
    guidance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_GUIDANCE))
    # (T,21) bool: 2D keypoints that are the user's drags, met within 2 px. Every other 2D keypoint
    # is evidence (a detector's) and is followed softly, so its jitter does not come through.
    kp2d_hard: np.ndarray | None = field(default=None, compare=False)
    # (T, V) hand tokens of the video's frames from the hand perceptron (`engine.video.vision`), in
    # the model's right-hand picture (a left hand's frames mirrored). Needs a vision-trained model.
    vision: np.ndarray | None = field(default=None, compare=False)
    # The video the conditions were detected in: an engine with the vision path computes the hand
    # tokens from its frames (the editor's first estimate of a video); others ignore it.
    vision_video: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        t = self.conditions.num_frames
        if self.previous is not None and self.previous.num_frames != t:
            raise ValueError(f"previous: has {self.previous.num_frames} frames, conditions have {t}")
        if self.frames is not None:
            start, stop = self.frames
            if not (0 <= start < stop <= t):
                raise ValueError(f"frames: expected 0 <= start < stop <= {t}, got {self.frames}")
        if self.samples < 1:
            raise ValueError(f"samples: expected >= 1, got {self.samples}")
        if self.steps < 1:
            raise ValueError(f"steps: expected >= 1, got {self.steps}")
        if self.kp2d_hard is not None:
            hard = np.asarray(self.kp2d_hard)
            if hard.shape != (t, 21) or hard.dtype != np.bool_:
                raise ValueError(f"kp2d_hard: expected a ({t}, 21) bool mask, got {hard.shape} {hard.dtype}")
            if self.conditions.kp2d is None and hard.any():
                raise ValueError("kp2d_hard: marks 2D keypoints but the conditions have none")
        if self.vision is not None:
            v = np.asarray(self.vision)
            if v.ndim != 2 or v.shape[0] != t:
                raise ValueError(f"vision: expected ({t}, V) hand tokens, got shape {v.shape}")
            if not np.isfinite(v).all():
                raise ValueError("vision: hand tokens contain NaN or infinite values")
        unknown = set(self.guidance) - set(GUIDED)
        if unknown:
            raise ValueError(f"guidance: unknown modality {sorted(unknown)[0]!r}; known: {GUIDED}")


@dataclass(frozen=True)
class InfillResult:
    """The new motion (all frames), the frame range that was recomputed, and how long it took."""

    motion: HandMotion
    changed: tuple[int, int]
    seconds: float


class Infiller(Protocol):
    def __call__(
        self,
        request: InfillRequest,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> InfillResult: ...
