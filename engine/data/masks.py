"""Random condition masks that mimic what users and detectors give the model (paper section 3.1).

Each channel (kp2d, kp3d, mano) independently draws one *pattern* from its categorical
distribution in `MaskConfig`, then the pattern's parameters from their ranges:

- ``absent``: the channel is not given at all (trains the per-modality null token of CFG);
- ``full``: every frame and joint observed;
- ``occlusion``: a few joint groups (a finger, the fingertips, the palm, ...) hidden for
  contiguous stretches of frames (objects and the other hand cover parts of the hand);
- ``dropout``: whole frames missing in short bursts (the detector saw no hand);
- ``gap``: one or two long contiguous spans missing (motion blur, the hand left the frame, or an
  animator cutting a stretch to be regenerated);
- ``mixed``: occlusion, dropout and a gap together (a hard real video);
- ``pins``: only a handful of frames with a few joints each (a user pinning 3D joints);
- ``keyframes``: MANO known on sparse keyframes only (an animator's keys);
- ``first_frame``: MANO known on the first frame only (the paper initialises it with HaMeR).

kp2d masks are ANDed with `visible` (behind the camera or outside the image is never observed)
and every mask with `frame_valid` (padding). The numbers chosen and why are in docs/data.md.
Everything is drawn from the generator passed in, so a seed fixes the masks exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.hand.skeleton import NUM_KEYPOINTS

CHANNEL_ORDER = ("kp2d", "kp3d", "mano")

# MP21 joint groups that tend to disappear together.
JOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
    "fingertips": (4, 8, 12, 16, 20),
    "palm": (0, 1, 5, 9, 13, 17),
    "outer_fingers": (13, 14, 15, 16, 17, 18, 19, 20),
}

PATTERNS: dict[str, tuple[str, ...]] = {
    "kp2d": ("absent", "full", "occlusion", "dropout", "gap", "mixed"),
    "kp3d": ("absent", "full", "occlusion", "gap", "pins"),
    "mano": ("absent", "full", "gap", "keyframes", "first_frame"),
}


def _kp2d_default() -> dict[str, float]:
    return {"absent": 0.15, "full": 0.15, "occlusion": 0.25, "dropout": 0.15, "gap": 0.1, "mixed": 0.2}


def _kp3d_default() -> dict[str, float]:
    return {"absent": 0.5, "full": 0.1, "occlusion": 0.1, "gap": 0.1, "pins": 0.2}


def _mano_default() -> dict[str, float]:
    return {"absent": 0.6, "full": 0.05, "gap": 0.1, "keyframes": 0.15, "first_frame": 0.1}


@dataclass(frozen=True)
class MaskConfig:
    """Pattern probabilities per channel (normalised on use) and the ranges of their parameters.

    Ranges are inclusive ``(low, high)`` pairs, in frames unless named otherwise.
    """

    kp2d: dict[str, float] = field(default_factory=_kp2d_default)
    kp3d: dict[str, float] = field(default_factory=_kp3d_default)
    mano: dict[str, float] = field(default_factory=_mano_default)
    occlusion_groups: tuple[int, int] = (1, 3)
    occlusion_span: tuple[int, int] = (5, 60)
    dropout_fraction: tuple[float, float] = (0.05, 0.3)
    dropout_burst: tuple[int, int] = (1, 8)
    gap_count: tuple[int, int] = (1, 2)
    gap_length: tuple[int, int] = (10, 90)
    pin_frames: tuple[int, int] = (1, 8)
    pin_joints: tuple[int, int] = (1, 5)
    keyframe_interval: tuple[int, int] = (10, 40)

    def __post_init__(self) -> None:
        for channel in CHANNEL_ORDER:
            probs = getattr(self, channel)
            unknown = sorted(set(probs) - set(PATTERNS[channel]))
            if unknown:
                raise ValueError(
                    f"mask config {channel}: unknown patterns {unknown}; use {PATTERNS[channel]}"
                )
            values = np.array(list(probs.values()), dtype=np.float64)
            if values.size == 0 or (values < 0).any() or not np.isfinite(values).all() or values.sum() <= 0:
                raise ValueError(f"mask config {channel}: probabilities must be >= 0 with a positive sum")
        for name in ("occlusion_groups", "occlusion_span", "dropout_fraction", "dropout_burst", "gap_count"):
            self._check_range(name)
        for name in ("gap_length", "pin_frames", "pin_joints", "keyframe_interval"):
            self._check_range(name)

    def _check_range(self, name: str) -> None:
        value = getattr(self, name)
        if len(value) != 2 or not (0 <= value[0] <= value[1]):
            raise ValueError(f"mask config {name}: expected (low, high) with 0 <= low <= high, got {value}")
        object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MaskConfig:
        """From a TOML/JSON table; unknown keys are an error."""
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"mask config: unknown keys {unknown}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class MaskSample:
    kp2d_mask: np.ndarray  # (T,21) bool
    kp3d_mask: np.ndarray  # (T,21) bool
    mano_mask: np.ndarray  # (T,) bool
    channels: np.ndarray  # (3,) bool: kp2d, kp3d, mano present
    patterns: dict[str, str]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {
            "kp2d_mask": self.kp2d_mask,
            "kp3d_mask": self.kp3d_mask,
            "mano_mask": self.mano_mask,
            "channels": self.channels,
        }


def mask_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator that depends only on (seed, *keys): e.g. (build seed, window index, epoch)."""
    return np.random.default_rng([int(seed), *(int(k) for k in keys)])


def _randint(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _span(rng: np.random.Generator, num_frames: int, bounds: tuple[int, int]) -> slice:
    length = min(num_frames, max(1, _randint(rng, bounds)))
    start = int(rng.integers(0, num_frames - length + 1))
    return slice(start, start + length)


def _occlusion(rng: np.random.Generator, mask: np.ndarray, config: MaskConfig) -> None:
    names = list(JOINT_GROUPS)
    for _ in range(max(1, _randint(rng, config.occlusion_groups))):
        group = JOINT_GROUPS[names[int(rng.integers(len(names)))]]
        mask[_span(rng, len(mask), config.occlusion_span), list(group)] = False


def _dropout(rng: np.random.Generator, frames: np.ndarray, config: MaskConfig) -> None:
    t = len(frames)
    target = round(rng.uniform(*config.dropout_fraction) * t)
    dropped = 0
    for _ in range(4 * t):  # bounded: bursts may overlap
        if dropped >= target:
            break
        span = _span(rng, t, config.dropout_burst)
        dropped += int(frames[span].sum())
        frames[span] = False


def _gaps(rng: np.random.Generator, frames: np.ndarray, config: MaskConfig) -> None:
    for _ in range(max(1, _randint(rng, config.gap_count))):
        frames[_span(rng, len(frames), config.gap_length)] = False


def _pattern_mask(
    rng: np.random.Generator, pattern: str, num_frames: int, per_joint: bool, config: MaskConfig
) -> np.ndarray:
    t = num_frames
    shape = (t, NUM_KEYPOINTS) if per_joint else (t,)
    if pattern == "absent":
        return np.zeros(shape, dtype=bool)
    mask = np.ones(shape, dtype=bool)
    frames = np.ones(t, dtype=bool)
    if pattern in ("occlusion", "mixed") and per_joint:
        _occlusion(rng, mask, config)
    if pattern in ("dropout", "mixed"):
        _dropout(rng, frames, config)
    if pattern in ("gap", "mixed"):
        _gaps(rng, frames, config)
    if pattern == "pins":
        mask[:] = False
        chosen = rng.choice(t, size=min(t, _randint(rng, config.pin_frames)), replace=False)
        for f in chosen:
            joints = rng.choice(NUM_KEYPOINTS, size=min(NUM_KEYPOINTS, _randint(rng, config.pin_joints)))
            mask[f, joints] = True
    elif pattern == "keyframes":
        step = max(1, _randint(rng, config.keyframe_interval))
        frames[:] = False
        frames[int(rng.integers(0, step)) :: step] = True
    elif pattern == "first_frame":
        frames[:] = False
        frames[0] = True
    return mask & (frames[:, None] if per_joint else frames)


def sample_masks(
    rng: np.random.Generator,
    num_frames: int,
    config: MaskConfig | None = None,
    visible: np.ndarray | None = None,
    frame_valid: np.ndarray | None = None,
) -> MaskSample:
    """Draw the kp2d, kp3d and mano masks of one window (see the module docstring)."""
    config = config or MaskConfig()
    masks: dict[str, np.ndarray] = {}
    patterns: dict[str, str] = {}
    for channel in CHANNEL_ORDER:
        probs = getattr(config, channel)
        names = list(probs)
        p = np.array([probs[n] for n in names], dtype=np.float64)
        pattern = names[int(rng.choice(len(names), p=p / p.sum()))]
        patterns[channel] = pattern
        masks[channel] = _pattern_mask(rng, pattern, num_frames, channel != "mano", config)
    if visible is not None:
        masks["kp2d"] &= np.asarray(visible, dtype=bool)
    if frame_valid is not None:
        valid = np.asarray(frame_valid, dtype=bool)
        masks["kp2d"] &= valid[:, None]
        masks["kp3d"] &= valid[:, None]
        masks["mano"] &= valid
    present = np.array([patterns[c] != "absent" for c in CHANNEL_ORDER])
    return MaskSample(
        kp2d_mask=masks["kp2d"],
        kp3d_mask=masks["kp3d"],
        mano_mask=masks["mano"],
        channels=present,
        patterns=patterns,
    )
