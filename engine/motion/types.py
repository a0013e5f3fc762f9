"""The two values the engine passes around: a hand motion and the conditions that constrain one.

Both are frozen dataclasses over numpy arrays, validated on construction (and so on every
`replace`): shapes, dtypes, and finite values wherever a value counts. Arrays are copied to
float64 (masks: bool) on construction, so later changes to the caller's arrays do not reach
them. Treat the arrays as immutable and derive changed values with `replace`: they are left
writable only because scipy's Rotation refuses read-only input and torch warns on it.

Conventions (DESIGN.md sections 2 and 3): MP21 keypoints, metres in camera/canonical space,
pixels for 2D, axis-angle rotations (MANO joint order, never PCA). Validation errors are
`ValueError`s naming the field and the first bad frame (and joint); `engine.motion.io` re-raises
them as `FileFormatError` with the file's path.

Dtype policy: float fields accept any floating or integer array (converted to float64); bool,
complex, string and object arrays are refused. Masks must be bool. `image_size` must hold
integral values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, Self

import numpy as np

from engine.hand.skeleton import NUM_BETAS, NUM_KEYPOINTS, NUM_MANO_JOINTS, POSE_DIM
from engine.motion.camera import Camera

HANDEDNESS = ("right", "left")
MANO_POSE_DIM = 3 * NUM_MANO_JOINTS  # global orient + 45 finger values = 48

# All keys of each optional condition channel, and those that must come together (K is optional).
CHANNEL_KEYS: dict[str, tuple[str, ...]] = {
    "kp3d": ("kp3d", "kp3d_mask"),
    "kp2d": ("kp2d", "kp2d_mask", "image_size", "K"),
    "mano": ("mano_pose", "mano_transl", "mano_betas", "mano_mask"),
}
CHANNEL_REQUIRED: dict[str, tuple[str, ...]] = {
    "kp3d": ("kp3d", "kp3d_mask"),
    "kp2d": ("kp2d", "kp2d_mask", "image_size"),
    "mano": ("mano_pose", "mano_transl", "mano_betas", "mano_mask"),
}
CHANNEL_MASK: dict[str, str] = {"kp3d": "kp3d_mask", "kp2d": "kp2d_mask", "mano": "mano_mask"}
CHANNELS: tuple[str, ...] = tuple(CHANNEL_KEYS)


# --------------------------------------------------------------------------- validation helpers


def _fail(message: str) -> NoReturn:
    raise ValueError(message)


def _check_shape(name: str, arr: np.ndarray, expected: tuple[int, ...], frames_from: str = "") -> None:
    if arr.shape == expected:
        return
    # A frame-count mismatch is the common case; say so in those words.
    if frames_from and arr.ndim == len(expected) and arr.shape[1:] == expected[1:]:
        _fail(f"{name}: has {arr.shape[0]} frames, expected {expected[0]} ({frames_from})")
    _fail(f"{name}: expected shape {expected}, got {arr.shape}")


def as_float_array(name: str, value: Any) -> np.ndarray:
    """Copy `value` to a float64 array, refusing bool/complex/string/object dtypes."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        _fail(f"{name}: expected a float array, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64)


def as_mask_array(name: str, value: Any) -> np.ndarray:
    """Copy `value` to a bool array; any other dtype is refused (0/1 ints are ambiguous)."""
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        _fail(f"{name}: expected a bool mask, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.bool_)


def _where(bad: np.ndarray, axes: tuple[str, ...]) -> str:
    first = np.argwhere(bad)[0]
    return ", ".join(f"{axis} {int(i)}" for axis, i in zip(axes, first, strict=False))


def _check_finite(name: str, arr: np.ndarray, axes: tuple[str, ...], mask: np.ndarray | None = None) -> None:
    """Raise naming the first non-finite entry; with `mask`, only entries under a true mask count."""
    bad = ~np.isfinite(arr)
    if mask is not None:
        # Reduce the trailing value dims so `bad` lines up with the mask.
        bad = bad.reshape(*mask.shape, -1).any(axis=-1) & mask
        where = "under a true mask "
    else:
        where = ""
    if bad.any():
        _fail(f"{name}: NaN or inf {where}at {_where(bad, axes)}")


def _check_fps(fps: Any) -> float:
    if isinstance(fps, bool | np.bool_) or not isinstance(fps, int | float | np.integer | np.floating):
        _fail(f"fps: expected a number, got {type(fps).__name__}")
    value = float(fps)
    if not (np.isfinite(value) and value > 0):
        _fail(f"fps: must be a positive finite number, got {value}")
    return value


def _check_handedness(handedness: Any) -> str:
    if not isinstance(handedness, str) or handedness not in HANDEDNESS:
        _fail(f"handedness: expected 'right' or 'left', got {handedness!r}")
    return str(handedness)


def _arrays_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    return bool(a == b)


class _ArrayRecord:
    """Equality over fields (NaN equals NaN) and a compact repr, for array dataclasses."""

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            _arrays_equal(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self)
        )

    def replace(self, **changes: Any) -> Self:
        """A new, validated instance with `changes` applied (fields by name)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var, no-any-return]


# --------------------------------------------------------------------------- HandMotion


@dataclass(frozen=True, eq=False, repr=False)
class HandMotion(_ArrayRecord):
    """A MANO hand motion of T frames in canonical (first-frame camera) space.

    `joints` are the MP21 keypoints of the posed hand in metres; with several sampled
    solutions, `joints_samples` (N,T,21,3) holds them all and `joints_std` (T,21) their spread.
    """

    fps: float
    handedness: str
    hand_model: str
    global_orient: np.ndarray  # (T,3) axis-angle
    hand_pose: np.ndarray  # (T,45) axis-angle, MANO joint order
    transl: np.ndarray  # (T,3) metres
    betas: np.ndarray  # (10,)
    joints: np.ndarray  # (T,21,3) MP21, metres
    joints_samples: np.ndarray | None = None  # (N,T,21,3)
    joints_std: np.ndarray | None = None  # (T,21)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: fields are normalised once, here
        set_(self, "fps", _check_fps(self.fps))
        set_(self, "handedness", _check_handedness(self.handedness))
        if not isinstance(self.hand_model, str) or not self.hand_model:
            _fail(f"hand_model: expected a non-empty name, got {self.hand_model!r}")
        go = as_float_array("global_orient", self.global_orient)
        if go.ndim != 2 or go.shape[1] != 3 or go.shape[0] < 1:
            _fail(f"global_orient: expected shape (T, 3) with T >= 1, got {go.shape}")
        t = go.shape[0]
        frames = "frames of global_orient"
        expected = {
            "global_orient": (t, 3),
            "hand_pose": (t, POSE_DIM),
            "transl": (t, 3),
            "betas": (NUM_BETAS,),
            "joints": (t, NUM_KEYPOINTS, 3),
        }
        for name, shape in expected.items():
            arr = as_float_array(name, getattr(self, name))
            _check_shape(name, arr, shape, frames if name != "betas" else "")
            _check_finite(name, arr, ("index",) if name == "betas" else ("frame", "joint"))
            set_(self, name, arr)
        if (self.joints_samples is None) != (self.joints_std is None):
            present, absent = ("joints_samples", "joints_std")[:: 1 if self.joints_std is None else -1]
            _fail(f"{absent}: missing; {present} and {absent} come together")
        if self.joints_samples is not None:
            samples = as_float_array("joints_samples", self.joints_samples)
            if samples.ndim != 4 or samples.shape[0] < 1:
                _fail(f"joints_samples: expected shape (N, {t}, 21, 3) with N >= 1, got {samples.shape}")
            _check_shape("joints_samples", samples, (samples.shape[0], t, NUM_KEYPOINTS, 3))
            _check_finite("joints_samples", samples, ("sample", "frame", "joint"))
            std = as_float_array("joints_std", self.joints_std)
            _check_shape("joints_std", std, (t, NUM_KEYPOINTS), frames)
            _check_finite("joints_std", std, ("frame", "joint"))
            if (std < 0).any():
                _fail(f"joints_std: negative value at {_where(std < 0, ('frame', 'joint'))}")
            set_(self, "joints_samples", samples)
            set_(self, "joints_std", std)

    @property
    def num_frames(self) -> int:
        return int(self.global_orient.shape[0])

    @property
    def num_samples(self) -> int:
        """Number of sampled solutions (0 when only the single `joints` is present)."""
        return 0 if self.joints_samples is None else int(self.joints_samples.shape[0])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps

    def slice(self, start: int | None = None, stop: int | None = None) -> HandMotion:
        """Frames [start, stop) with Python slice semantics; the result must not be empty."""
        sel = slice(start, stop)
        if len(range(*sel.indices(self.num_frames))) == 0:
            raise ValueError(f"slice({start}, {stop}) of a {self.num_frames}-frame motion is empty")
        return self.replace(
            global_orient=self.global_orient[sel],
            hand_pose=self.hand_pose[sel],
            transl=self.transl[sel],
            joints=self.joints[sel],
            joints_samples=None if self.joints_samples is None else self.joints_samples[:, sel],
            joints_std=None if self.joints_std is None else self.joints_std[sel],
        )

    def __repr__(self) -> str:
        return (
            f"HandMotion(T={self.num_frames}, fps={self.fps:g}, handedness={self.handedness!r}, "
            f"hand_model={self.hand_model!r}, samples={self.num_samples})"
        )


# --------------------------------------------------------------------------- Conditions


@dataclass(frozen=True, eq=False, repr=False)
class Conditions(_ArrayRecord):
    """Observations that constrain a motion of `num_frames` frames; every channel is optional.

    Channels (DESIGN.md section 3): "kp3d" (3D keypoints, metres, camera space), "kp2d" (2D
    keypoints in pixels of an image of `image_size` [W,H], optional intrinsics `K`) and "mano"
    (known MANO parameters on the frames of `mano_mask`, kept exactly). Entries under a false
    mask may hold anything, NaN included, and are never read.
    """

    fps: float
    num_frames: int
    handedness: str = "right"
    kp3d: np.ndarray | None = None  # (T,21,3)
    kp3d_mask: np.ndarray | None = None  # (T,21) bool
    kp2d: np.ndarray | None = None  # (T,21,2) pixels
    kp2d_mask: np.ndarray | None = None  # (T,21) bool
    image_size: np.ndarray | None = None  # (2,) [W,H] int64
    K: np.ndarray | None = None  # (3,3)
    mano_pose: np.ndarray | None = None  # (T,48) global orient + 45 finger values
    mano_transl: np.ndarray | None = None  # (T,3)
    mano_betas: np.ndarray | None = None  # (10,)
    mano_mask: np.ndarray | None = None  # (T,) bool

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: fields are normalised once, here
        set_(self, "fps", _check_fps(self.fps))
        n = self.num_frames
        if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer) or n < 1:
            _fail(f"num_frames: expected an integer >= 1, got {n!r}")
        t = int(n)
        set_(self, "num_frames", t)
        set_(self, "handedness", _check_handedness(self.handedness))
        for channel in CHANNELS:
            given = [k for k in CHANNEL_KEYS[channel] if getattr(self, k) is not None]
            missing = [k for k in CHANNEL_REQUIRED[channel] if getattr(self, k) is None]
            if given and missing:
                _fail(f"{missing[0]}: missing; {given[0]} needs {', '.join(CHANNEL_REQUIRED[channel])}")
        frames = "num_frames"
        ax_joint = ("frame", "joint")
        if self.kp3d is not None:
            mask = as_mask_array("kp3d_mask", self.kp3d_mask)
            _check_shape("kp3d_mask", mask, (t, NUM_KEYPOINTS), frames)
            data = as_float_array("kp3d", self.kp3d)
            _check_shape("kp3d", data, (t, NUM_KEYPOINTS, 3), frames)
            _check_finite("kp3d", data, ax_joint, mask)
            set_(self, "kp3d", data)
            set_(self, "kp3d_mask", mask)
        if self.kp2d is not None:
            mask = as_mask_array("kp2d_mask", self.kp2d_mask)
            _check_shape("kp2d_mask", mask, (t, NUM_KEYPOINTS), frames)
            data = as_float_array("kp2d", self.kp2d)
            _check_shape("kp2d", data, (t, NUM_KEYPOINTS, 2), frames)
            _check_finite("kp2d", data, ax_joint, mask)
            size = as_float_array("image_size", self.image_size)
            _check_shape("image_size", size, (2,))
            if not (np.isfinite(size).all() and (size >= 1).all() and (size == np.round(size)).all()):
                _fail(f"image_size: expected two positive integers [W, H], got {size.tolist()}")
            size = size.astype(np.int64)
            set_(self, "kp2d", data)
            set_(self, "kp2d_mask", mask)
            set_(self, "image_size", size)
            if self.K is not None:
                k = as_float_array("K", self.K)
                _check_shape("K", k, (3, 3))
                try:
                    Camera(k, int(size[0]), int(size[1]))
                except ValueError as exc:
                    _fail(f"K: {exc}")
                set_(self, "K", k)
        if self.mano_pose is not None:
            mask = as_mask_array("mano_mask", self.mano_mask)
            _check_shape("mano_mask", mask, (t,), frames)
            for name, shape in (("mano_pose", (t, MANO_POSE_DIM)), ("mano_transl", (t, 3))):
                data = as_float_array(name, getattr(self, name))
                _check_shape(name, data, shape, frames)
                _check_finite(name, data, ("frame",), mask)
                set_(self, name, data)
            betas = as_float_array("mano_betas", self.mano_betas)
            _check_shape("mano_betas", betas, (NUM_BETAS,))
            _check_finite("mano_betas", betas, ("index",))
            set_(self, "mano_betas", betas)
            set_(self, "mano_mask", mask)

    # ----------------------------------------------------------------- queries

    @property
    def channels(self) -> tuple[str, ...]:
        """Names of the channels present, in the order of `CHANNELS`."""
        return tuple(c for c in CHANNELS if self.has(c))

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps

    def has(self, channel: str) -> bool:
        """Whether `channel` ("kp3d", "kp2d" or "mano") is present."""
        return getattr(self, CHANNEL_REQUIRED[_check_channel(channel)][0]) is not None

    def mask(self, channel: str) -> np.ndarray | None:
        """The channel's mask ((T,21) or (T,) bool), or None when the channel is absent."""
        return getattr(self, CHANNEL_MASK[_check_channel(channel)])

    def observed_frames(self, channel: str) -> np.ndarray:
        """Indices of frames with at least one true mask entry (empty if the channel is absent)."""
        mask = self.mask(channel)
        if mask is None:
            return np.zeros(0, dtype=np.int64)
        per_frame = mask if mask.ndim == 1 else mask.any(axis=1)
        return np.flatnonzero(per_frame)

    def camera(self) -> Camera:
        """The camera of the kp2d channel: `K` if given, else the default intrinsics of the image."""
        if self.image_size is None:
            raise ValueError("conditions have no kp2d channel, so no image size or camera")
        w, h = int(self.image_size[0]), int(self.image_size[1])
        return Camera.default(w, h) if self.K is None else Camera(self.K, w, h)

    # ----------------------------------------------------------------- derived values

    def with_channel(self, channel: str, **arrays: Any) -> Conditions:
        """Set keys of one channel, e.g. ``with_channel("kp3d", kp3d=x, kp3d_mask=m)``.

        Keys of the channel not given keep their current values (None if the channel is absent).
        """
        keys = CHANNEL_KEYS[_check_channel(channel)]
        unknown = sorted(set(arrays) - set(keys))
        if unknown:
            raise ValueError(f"channel {channel!r} has keys {list(keys)}, not {unknown}")
        return self.replace(**arrays)

    def without(self, channel: str) -> Conditions:
        """A copy with `channel` removed."""
        return self.replace(**dict.fromkeys(CHANNEL_KEYS[_check_channel(channel)]))

    def slice(self, start: int | None = None, stop: int | None = None) -> Conditions:
        """Frames [start, stop) with Python slice semantics; the result must not be empty."""
        sel = slice(start, stop)
        count = len(range(*sel.indices(self.num_frames)))
        if count == 0:
            raise ValueError(f"slice({start}, {stop}) of {self.num_frames}-frame conditions is empty")
        per_frame = ("kp3d", "kp3d_mask", "kp2d", "kp2d_mask", "mano_pose", "mano_transl", "mano_mask")
        changes = {k: getattr(self, k)[sel] for k in per_frame if getattr(self, k) is not None}
        return self.replace(num_frames=count, **changes)

    def __repr__(self) -> str:
        parts = []
        for channel in self.channels:
            parts.append(f"{channel}: {len(self.observed_frames(channel))} observed frames")
        return (
            f"Conditions(T={self.num_frames}, fps={self.fps:g}, handedness={self.handedness!r}, "
            f"channels={{{', '.join(parts)}}})"
        )


def _check_channel(channel: str) -> str:
    if channel not in CHANNEL_KEYS:
        raise ValueError(f"unknown channel {channel!r}; channels are {list(CHANNELS)}")
    return channel
