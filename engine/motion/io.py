"""Conditions and motion files: versioned numpy .npz, never pickles (DESIGN.md section 3).

Every file holds a `format` key, "unihand.conditions/1" or "unihand.motion/1", as a 0-d unicode
array; other strings (`handedness`, `hand_model`) are 0-d unicode arrays too, `fps` a 0-d float,
`num_frames` a 0-d integer. Float arrays are written as float64.

Reading is strict, because a silently misread file is worse than a refused one: anything that is
not exactly a valid file of the expected format raises `FileFormatError` naming the path, the key
and, where it applies, the frame (and joint). Unknown keys are refused rather than ignored, so a
typo ("kp3d_msk") cannot make a channel vanish. Dtype policy: float keys accept any floating or
integer array (converted to float64); masks must be bool; `num_frames` must be an integer.

Writing is atomic: a temporary file in the same directory, flushed and fsynced, then renamed
over the target, so a crash or an error leaves any existing file untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FileFormatError
from engine.files import write_npz_atomic
from engine.motion.types import CHANNEL_KEYS, Conditions, HandMotion

CONDITIONS_FORMAT = "unihand.conditions/1"
MOTION_FORMAT = "unihand.motion/1"
# Versions this program reads, per format name.
SUPPORTED_VERSIONS: dict[str, tuple[int, ...]] = {"unihand.conditions": (1,), "unihand.motion": (1,)}

_COND_REQUIRED = ("format", "fps", "num_frames")
_COND_OPTIONAL = ("handedness", *(k for keys in CHANNEL_KEYS.values() for k in keys))
_MOTION_REQUIRED = (
    "format", "fps", "handedness", "hand_model", "global_orient", "hand_pose", "transl", "betas", "joints",
)  # fmt: skip
_MOTION_OPTIONAL = ("joints_samples", "joints_std")

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- writing


def save_conditions(path: PathLike, cond: Conditions) -> Path:
    """Write `cond` as a "unihand.conditions/1" file, atomically. Returns the path."""
    if not isinstance(cond, Conditions):
        raise TypeError(f"save_conditions needs Conditions, got {type(cond).__name__}")
    arrays: dict[str, np.ndarray] = {
        "format": np.array(CONDITIONS_FORMAT),
        "fps": np.array(cond.fps, dtype=np.float64),
        "num_frames": np.array(cond.num_frames, dtype=np.int64),
        "handedness": np.array(cond.handedness),
    }
    for keys in CHANNEL_KEYS.values():
        arrays.update({k: getattr(cond, k) for k in keys if getattr(cond, k) is not None})
    return write_npz_atomic(path, arrays)


def save_motion(path: PathLike, motion: HandMotion) -> Path:
    """Write `motion` as a "unihand.motion/1" file, atomically. Returns the path."""
    if not isinstance(motion, HandMotion):
        raise TypeError(f"save_motion needs a HandMotion, got {type(motion).__name__}")
    arrays: dict[str, np.ndarray] = {
        "format": np.array(MOTION_FORMAT),
        "fps": np.array(motion.fps, dtype=np.float64),
        "handedness": np.array(motion.handedness),
        "hand_model": np.array(motion.hand_model),
    }
    for key in (*_MOTION_REQUIRED[4:], *_MOTION_OPTIONAL):
        if getattr(motion, key) is not None:
            arrays[key] = getattr(motion, key)
    return write_npz_atomic(path, arrays)


# --------------------------------------------------------------------------- reading


def _read_npz(path: Path) -> dict[str, Any]:
    """All members of the archive at `path`, refusing anything that is not a plain-array .npz."""
    if path.is_dir():
        raise FileFormatError(f"{path}: is a directory, not a file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: file not found") from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({exc})") from exc
    # Checked here because np.load would try any non-zip, non-.npy file as a pickle.
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        kind = "a single .npy array" if magic == b"\x93NUM" else "not an .npz (zip) archive"
        raise FileFormatError(f"{path}: {kind}; expected a UniHand .npz file")
    arrays: dict[str, Any] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                try:
                    arrays[key] = npz[key]
                except ValueError as exc:
                    if "pickle" in str(exc):
                        raise FileFormatError(
                            f"{path}: key {key!r} contains pickled objects, which are never loaded"
                        ) from None
                    raise FileFormatError(f"{path}: key {key!r} is not a readable array ({exc})") from exc
    except FileFormatError:
        raise
    except Exception as exc:
        # A damaged archive fails in zipfile, zlib or numpy's header parser with many exception
        # types (BadZipFile, zlib.error, EOFError, NotImplementedError, MemoryError for an absurd
        # header...); to the caller each means the same thing.
        raise FileFormatError(f"{path}: not a readable .npz archive ({exc})") from exc
    return arrays


def _split_format(value: str) -> tuple[str, str]:
    name, _, version = value.partition("/")
    return name, version


def _check_format(path: Path, arrays: Mapping[str, Any], expected: str) -> None:
    if "format" not in arrays:
        raise FileFormatError(f"{path}: missing key 'format' (expected {expected!r}); not a UniHand file")
    value = _string(path, arrays, "format")
    want_name, _ = _split_format(expected)
    name, version = _split_format(value)
    if name == want_name and value != expected:
        versions = ", ".join(str(v) for v in SUPPORTED_VERSIONS[name])
        raise FileFormatError(
            f"{path}: format {value!r} has an unsupported version {version!r} "
            f"(this program reads {name} version {versions}); a newer UniHand may read it"
        )
    if name != want_name:
        hint = f"; it is a {name} file" if name in SUPPORTED_VERSIONS else ""
        raise FileFormatError(f"{path}: format is {value!r}, expected {expected!r}{hint}")


def _check_keys(
    path: Path, arrays: Mapping[str, Any], fmt: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    missing = [k for k in required if k not in arrays]
    if missing:
        raise FileFormatError(f"{path}: missing required key(s) {missing}")
    unknown = sorted(set(arrays) - set(required) - set(optional))
    if unknown:
        raise FileFormatError(
            f"{path}: unknown key(s) {unknown}; a {fmt} file may hold only {[*required, *optional]}"
        )
    not_arrays = [k for k, v in arrays.items() if not isinstance(v, np.ndarray)]
    if not_arrays:
        raise FileFormatError(f"{path}: key(s) {not_arrays} are not numpy arrays")


def _scalar(path: Path, arrays: Mapping[str, Any], key: str, kinds: str, what: str) -> np.ndarray:
    value = arrays[key]
    if not isinstance(value, np.ndarray):
        raise FileFormatError(f"{path}: key {key!r} is not a numpy array")
    if value.shape != ():
        raise FileFormatError(
            f"{path}: key {key!r} must be a single value (shape ()), got shape {value.shape}"
        )
    if value.dtype.kind not in kinds:
        raise FileFormatError(f"{path}: key {key!r} must be {what}, got dtype {value.dtype}")
    return value


def _string(path: Path, arrays: Mapping[str, Any], key: str) -> str:
    return str(_scalar(path, arrays, key, "U", "a unicode string")[()])


def _float(path: Path, arrays: Mapping[str, Any], key: str) -> float:
    return float(_scalar(path, arrays, key, "fiu", "a number")[()])


def _build(path: Path, cls: type, fields: dict[str, Any]) -> Any:
    try:
        return cls(**fields)
    except ValueError as exc:
        # The message already names the key and frame; add the file.
        raise FileFormatError(f"{path}: {exc}") from None


def file_format(path: PathLike) -> str:
    """The `format` string of a UniHand .npz file (to dispatch on it), validated only that far."""
    path = Path(path)
    arrays = _read_npz(path)
    if "format" not in arrays:
        raise FileFormatError(f"{path}: missing key 'format'; not a UniHand file")
    return _string(path, arrays, "format")


def load_conditions(path: PathLike) -> Conditions:
    """Read a "unihand.conditions/1" file; anything invalid raises `FileFormatError`."""
    path = Path(path)
    arrays = _read_npz(path)
    _check_format(path, arrays, CONDITIONS_FORMAT)
    _check_keys(path, arrays, CONDITIONS_FORMAT, _COND_REQUIRED, _COND_OPTIONAL)
    fields: dict[str, Any] = {
        "fps": _float(path, arrays, "fps"),
        "num_frames": int(_scalar(path, arrays, "num_frames", "iu", "an integer")[()]),
    }
    if "handedness" in arrays:
        fields["handedness"] = _string(path, arrays, "handedness")
    for keys in CHANNEL_KEYS.values():
        fields.update({k: arrays[k] for k in keys if k in arrays})
    return _build(path, Conditions, fields)


def load_motion(path: PathLike) -> HandMotion:
    """Read a "unihand.motion/1" file; anything invalid raises `FileFormatError`."""
    path = Path(path)
    arrays = _read_npz(path)
    _check_format(path, arrays, MOTION_FORMAT)
    _check_keys(path, arrays, MOTION_FORMAT, _MOTION_REQUIRED, _MOTION_OPTIONAL)
    fields: dict[str, Any] = {
        "fps": _float(path, arrays, "fps"),
        "handedness": _string(path, arrays, "handedness"),
        "hand_model": _string(path, arrays, "hand_model"),
    }
    fields.update({k: arrays[k] for k in (*_MOTION_REQUIRED[4:], *_MOTION_OPTIONAL) if k in arrays})
    return _build(path, HandMotion, fields)
